// Whether a response ended because its client went away: the connection closed before the last
// byte, and not because the server cut it (a server that gives up mid-body destroys the response
// with an error, which `errored` keeps). Such a request is nobody's fault on this side: it is
// logged at info and counted apart, as nginx's 499 "client closed request".
import type { ServerResponse } from 'node:http';

export const CLIENT_CLOSED_STATUS = 499;

export function clientAbandoned(res: ServerResponse): boolean {
  return !res.writableFinished && (res.destroyed || res.socket?.destroyed === true) && !res.errored;
}
