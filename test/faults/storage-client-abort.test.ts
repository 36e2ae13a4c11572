// A client that hangs up mid-upload (Ctrl-C in `docker push`), against a real Berth process: the
// request is logged at info as aborted with status 499, never as "request failed" at error level,
// and counted in berth_http_requests_aborted_total, not as a 5xx. The process stays up and the
// upload session can be resumed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type RegistryInstance } from '../helpers/berth-process.js';
import { describe as show, send, Tally } from '../helpers/fault-http.js';

/** Sends a PATCH announcing 64 MiB, writes 1 MiB of it, then closes the connection. */
function patchThenHangUp(port: number, location: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`PATCH ${location} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
      socket.write(Buffer.alloc(1024 * 1024, 7), () => setTimeout(() => socket.destroy(), 200));
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

function metricValue(metrics: string, pattern: RegExp): number {
  let total = 0;
  for (const line of metrics.split('\n')) if (pattern.test(line)) total += Number(line.split(' ').pop());
  return total;
}

describe('storage fault: a client hanging up mid-upload', () => {
  let reg: RegistryInstance;
  const tally = new Tally();
  let exits = 0;

  before(async () => {
    reg = await startRegistry({ env: { BERTH_STORAGE: 'fs', LOG_LEVEL: 'info' } });
  });

  after(async () => {
    if (!reg.running()) exits += 1;
    await reg.destroy();
    console.log(tally.summary('storage-client-abort', exits));
  });

  it('logs the abandoned PATCH at info as aborted (499), counts it apart, and never as a 5xx', async () => {
    // One session per hang-up: a second PATCH to a session whose abandoned one is still being
    // cleaned up is answered 416 (another request writes), which is not what this is about.
    const hangUps = 3;
    const locations: string[] = [];
    for (let i = 0; i < hangUps; i++) {
      const start = tally.note(await send(reg.url, 'POST', '/v2/faults/app/blobs/uploads/'));
      assert.equal(start.status, 202, show(start));
      locations.push(String(start.headers.location));
      tally.faults += 1;
      await patchThenHangUp(reg.port, locations[i]!);
    }
    // Bounded generously: the server notices the closed connection on its own schedule.
    let lines: Record<string, unknown>[] = [];
    for (let waited = 0; waited < 30_000; waited += 200) {
      lines = reg
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{') && l.includes('"method":"PATCH"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      if (lines.length >= hangUps) break;
      await sleep(200);
    }
    assert.equal(lines.length, hangUps, `PATCH log lines: ${JSON.stringify(lines)}`);
    for (const line of lines) {
      assert.equal(line.aborted, true, JSON.stringify(line));
      assert.equal(line.status, 499, JSON.stringify(line));
      assert.equal(line.level, 30, `info, not error: ${JSON.stringify(line)}`);
      assert.notEqual(line.msg, 'request failed');
    }
    const metrics = tally.note(await send(reg.url, 'GET', '/metrics')).body.toString();
    assert.equal(metricValue(metrics, /^berth_http_requests_aborted_total\{method="PATCH"/), hangUps, metrics);
    assert.equal(metricValue(metrics, /^berth_http_requests_total\{.*status="5\d\d"/), 0, 'no 5xx counted');
    assert.equal(metricValue(metrics, /^berth_http_requests_total\{method="PATCH".*status="499"/), hangUps);

    // The session is still there for the client's retry.
    const status = tally.note(await send(reg.url, 'GET', locations[0]!));
    assert.equal(status.status, 204, show(status));
    assert.equal(tally.count500, 0);
    assert.ok(reg.running());
  });
});
