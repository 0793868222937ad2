// wx.request that resolves the app's JSON body and rejects everything else with an error the user
// can be told about: network failures (errMsg), HTML gateway pages and 5xx (HTTPError), and the
// app's own failures (code != 0, with the server's reason).
const { call } = require('./wxp.js');
const { HTTPError, UserError } = require('./errors.js');

function body(res) {
  const d = res.data;
  if (typeof d === 'string') {
    try { return JSON.parse(d); } catch (_) { return null; } // uploadFile hands back text
  }
  return d && typeof d === 'object' ? d : null;
}

// check turns a response into the app's JSON or an error.
function check(res) {
  const d = body(res);
  if (!d || typeof d.code !== 'number') throw new HTTPError(res.statusCode, res.data);
  if (d.code !== 0) {
    const e = new UserError((d.msg && d.msg !== 'failed' && /[\u4e00-\u9fff]/.test(d.msg) && d.msg) || '操作失败，请稍后再试');
    e.reason = (d.error && (d.error.reason || d.error)) || (d.data && d.data.message) || d.msg;
    e.status = res.statusCode;
    e.body = d;
    throw e;
  }
  return d;
}

async function getJSON(url) {
  return check(await call(wx.request, { url, method: 'GET' }));
}

module.exports = { check, body, getJSON };
