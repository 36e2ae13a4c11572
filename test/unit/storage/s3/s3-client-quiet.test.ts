// Creating the S3 client prints nothing: the AWS SDK's Node-version notice is switched off with the
// SDK's own variable (other warnings still show), and an operator who sets that variable wins.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../../helpers/berth-process.js';
import { run } from '../../../helpers/system-tools.js';

const SCRIPT = `
const { createS3Client } = await import('./src/storage/s3/s3-client.ts');
createS3Client({});
process.emitWarning('a warning of our own');
`;

function createClient(env: NodeJS.ProcessEnv) {
  const { NODE_TEST_CONTEXT: _t, NODE_OPTIONS: _o, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _w, ...inherited } = process.env;
  return run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], { env: { ...inherited, ...env }, cwd: REPO_ROOT, timeoutMs: 60_000 });
}

describe('the S3 client on start-up', () => {
  it('prints no AWS SDK Node-version warning, but other warnings still show', async () => {
    const r = await createClient({});
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|AWS SDK/);
    assert.match(r.stderr, /a warning of our own/);
  });

  it('leaves the choice to an operator who set the SDK variable', async () => {
    const r = await createClient({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' });
    assert.equal(r.code, 0, r.stderr);
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 22) assert.match(r.stderr, /NodeVersionSupportWarning/);
    else assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning/);
  });
});
