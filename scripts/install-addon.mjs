// npm's `install` step for the published package (it replaces npm's default `node-gyp rebuild`,
// which would download Node's headers and compile for minutes on every install):
//   - in a git checkout it does nothing: `npm run setup` / `npm test` build the addon there;
//   - installed as a package, the prebuilt build/Release/torch_addon.node is kept when it loads;
//   - otherwise the addon is compiled from the shipped native/ sources and binding.gyp with
//     npm's own node-gyp, against the running Node's headers (never downloaded).
// A failure only warns: `import 'distill'` then fails with one line naming the fix.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const addon = join(root, 'build', 'Release', 'torch_addon.node');
const say = (s) => process.stderr.write(`distill install: ${s}\n`);

function loads() {
  try {
    createRequire(import.meta.url)(addon);
    return true;
  } catch (e) {
    say(`the prebuilt addon does not load here (${String(e.message).split('\n')[0]})`);
    return false;
  }
}

if (existsSync(join(root, '.git')) || existsSync(join(root, 'test'))) process.exit(0); // a checkout
if (existsSync(addon) && loads()) process.exit(0);

const gyp = process.env.npm_config_node_gyp;
const nodedir = dirname(dirname(process.execPath));
if (!gyp || !existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
  say(`cannot compile the addon (${gyp ? `no Node headers under ${nodedir}/include/node; install libnode-dev` : 'not run by npm'}); ` +
    'install libtorch (`sudo apt-get install -y libtorch-dev libgloo-dev libopenblas0-pthread`) and run `npm rebuild distill`');
  process.exit(0);
}
say('compiling the libtorch addon from source (a few minutes)');
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '-j', 'max'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) say('compiling the addon failed (see above); install libtorch-dev, libgloo-dev and g++, then run `npm rebuild distill`');
