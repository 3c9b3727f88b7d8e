// Reading a dataset file with errors that say which path failed and what to do about it.
import fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ConfigError, FormatError } from '../torch/index.js';

/**
 * The file's bytes, gunzipped when they start with the gzip magic (1f 8b). The content
 * decides, not the name: a `.gz` that was already unpacked by hand still loads.
 * `hint` is appended to the "not found" message (e.g. which package provides the file).
 */
export function readDataFile(path: string, hint?: string): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = fs.readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not a file' : (e as Error).message;
    throw new ConfigError(`cannot read dataset file ${path}: ${why}${hint ? `. ${hint}` : ''}`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (e) {
      throw new FormatError(`${path}: corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  return raw;
}

/** The file's text (UTF-8, gunzipped if needed, BOM removed). */
export function readDataText(path: string, hint?: string): string {
  const bytes = readDataFile(path, hint);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError(`${path}: not valid UTF-8 text`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
