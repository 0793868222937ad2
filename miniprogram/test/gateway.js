// A gateway in front of the real server, as a load balancer or nginx is on a bad day: it forwards
// everything, except that while fail(req) says so it answers with its own HTML error page.
const http = require('node:http');

function startGateway(target, fail) {
  const up = new URL(target);
  const srv = http.createServer((req, res) => {
    const status = fail(req);
    if (status) {
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end('<html><head><title>' + status + ' Bad Gateway</title></head><body><center><h1>' + status + ' Bad Gateway</h1></center><hr><center>nginx</center></body></html>');
      return;
    }
    const p = http.request({ host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    p.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(p);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    host: 'http://127.0.0.1:' + srv.address().port,
    close: () => new Promise((r) => srv.close(r)),
  })));
}

module.exports = { startGateway };
