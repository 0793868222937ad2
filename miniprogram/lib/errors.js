// What to tell a user about a failure, in Chinese: server reasons are mapped to messages, anything
// unknown gets a generic one (never an English reason, an errMsg or a stack).
const REASONS = [
  [/ERR_SKEY_INVALID|ERR_SESSION_EXPIRED|401/, '登录已过期，请重试'],
  [/ERR_SESSION_STORE_UNAVAILABLE|matchmaking is unavailable/, '服务暂时不可用，请稍后再试'],
  [/server is restarting/, '服务器正在重启，请稍后再试'],
  [/is connected already/, '你已在另一台设备上游戏'],
  [/rate limit|too many/i, '操作太频繁，请稍后再试'],
  [/too slow|idle/, '连接已断开'],
  [/no round is running|not in a room/, '本局已结束'],
];

// HTTPError is an answer that is not the app's JSON (a gateway's HTML page, a 5xx, a 503).
class HTTPError extends Error {
  constructor(status, body) {
    super('HTTP ' + status);
    this.name = 'HTTPError';
    this.status = status;
    this.html = typeof body === 'string' && /<html|<!doctype/i.test(body);
  }
}

function fromReason(reason) {
  if (typeof reason !== 'string' || !reason) return '';
  if (/[\u4e00-\u9fff]/.test(reason)) return reason; // the server's own Chinese message
  for (const [re, msg] of REASONS) if (re.test(reason)) return msg;
  return '';
}

// message names what went wrong for a toast or the page; fallback is the generic one.
function message(err, fallback = '出错了，请稍后再试') {
  if (!err) return fallback;
  if (err.name === 'LoginError' || err.name === 'UnavailableError' || err.name === 'UserError') return err.message;
  if (err.name === 'HTTPError') {
    if (err.status === 503 || err.status === 429) return '服务繁忙，请稍后再试';
    if (err.status === 413) return '文件太大';
    if (err.status >= 500) return '服务器出错了，请稍后再试';
    return fallback;
  }
  if (err.errMsg) { // a wx API failure
    if (/timeout/.test(err.errMsg)) return '网络超时，请检查网络后重试';
    if (/fail/.test(err.errMsg)) return '网络不可用，请检查网络后重试';
  }
  return fromReason(err.reason) || fromReason(err.message) || fallback;
}

// UserError carries a message meant for the user as it is.
class UserError extends Error {
  constructor(msg) { super(msg); this.name = 'UserError'; }
}

module.exports = { message, fromReason, HTTPError, UserError };
