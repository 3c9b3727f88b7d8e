// One streamed text field (content or reasoning_content) that must add up, chunk by chunk,
// to the same string the non-streamed answer carries.
//
// Backends return their final fields trimmed (splitReasoning trims "<think>\n…\n</think>\n\n…"),
// but a token stream cannot know, when a "\n" arrives, whether more text follows it: sent at
// once, it would end the streamed reasoning with an extra "\n" that the final one lacks. So
// whitespace at the start of a field is dropped, whitespace at its end is held back until more
// text follows, and finish() sends what the final text has beyond the part already streamed.
export class StreamedText {
  /** What the client has received so far. */
  sent = '';
  #held = '';

  /** Takes a delta's text; returns the part to send now ('' when all of it is held back). */
  push(piece: string): string {
    if (!piece) return '';
    let t = this.#held + piece;
    if (!this.sent) t = t.trimStart();
    const tail = /\s*$/.exec(t)!.index;
    this.#held = t.slice(tail);
    const out = t.slice(0, tail);
    this.sent += out;
    return out;
  }

  /**
   * The rest of `final` after what was streamed: the held-back whitespace when more text
   * followed it, or a tail the backend never streamed (half a UTF-8 character). '' when the
   * streamed text is already all of it, or when the backend's final text does not extend it.
   */
  finish(final: string): string {
    if (final.length <= this.sent.length || !final.startsWith(this.sent)) return '';
    const rest = final.slice(this.sent.length);
    this.sent = final;
    this.#held = '';
    return rest;
  }
}
