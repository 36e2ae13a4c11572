// A second reporter for node's test runner (next to spec, which is for people): one JSON line per
// finished test, naming its file and outcome, so test/run.ts can tell a file whose tests ran from
// one whose process ended before it registered any (spec shows that only as a bare "✔ <file>").
// Plain JavaScript: Node 20 loads reporters before `--import tsx` is in place.
import path from 'node:path';

/** @typedef {'pass' | 'fail' | 'skip' | 'todo' | 'empty'} Outcome */

/** @param {AsyncIterable<import('node:test/reporters').TestEvent>} source */
export default async function* outcomes(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    if (!data.file) continue;
    // The runner stands in for a file that reported no test with a test named after the file
    // itself (absolute on Node 20, relative to the working directory on 24); it passes when the
    // process exited 0, and that pass is no test having run.
    const standIn = data.nesting === 0 && path.resolve(data.name) === data.file;
    const suite = data.details.type === 'suite';
    /** @type {Outcome} */
    let outcome;
    if (data.skip !== undefined && data.skip !== false) outcome = 'skip';
    else if (data.todo !== undefined && data.todo !== false) outcome = 'todo';
    else if (event.type === 'test:fail') outcome = 'fail';
    // The stand-in passes only for a file that reported no test (a file whose tests ran reports
    // none for itself): named by the test file, unlike tests declared in a module it imports
    // (a shared contract), whose events carry that module's path.
    else if (standIn) outcome = 'empty';
    // A passing suite is counted through its tests; a skipped or failed one stands for its own.
    else if (suite) continue;
    else outcome = 'pass';
    yield `${JSON.stringify({ file: data.file, outcome })}\n`;
  }
}
