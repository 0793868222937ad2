// Requests with a login session, the skey protocol of `applet serve session` (wafer2-client-sdk's):
// log in with wx.login's code, keep the skey, send it as X-WX-Skey; on HTTP 401 (or code -1 with
// ERR_SKEY_INVALID) log in again once and retry. It does not use wx.getUserInfo, which no longer
// returns a real profile.
const config = require('../config.js');
const { call } = require('./wxp.js');

const KEY = 'applet_session';

class LoginError extends Error {
  constructor(message, cause) {
    super(message);
    this.name = 'LoginError';
    this.cause = cause;
  }
}

// UnavailableError is the server's answer while its session store is down (HTTP 503, code 503): the
// login is still good, so it is kept, and the user is asked to try again.
class UnavailableError extends Error {
  constructor() {
    super('服务暂时不可用，请稍后再试');
    this.name = 'UnavailableError';
  }
}

function unavailable(res) {
  return res.statusCode === 503 && !!res.data && res.data.error === 'ERR_SESSION_STORE_UNAVAILABLE';
}

function current() {
  return wx.getStorageSync(KEY) || null;
}

function clear() {
  wx.removeStorageSync(KEY);
}

async function login() {
  let code;
  try {
    code = (await call(wx.login, {})).code;
  } catch (err) {
    throw new LoginError('微信登录失败，请检查网络后重试', err);
  }
  const res = await call(wx.request, {
    url: config.host + '/applet/session/login',
    method: 'GET',
    header: { 'X-WX-Code': code },
  });
  if (unavailable(res)) throw new UnavailableError();
  if (res.statusCode !== 200 || !res.data || res.data.code !== 0) {
    const reason = (res.data && (res.data.error || res.data.message)) || 'HTTP ' + res.statusCode;
    throw new LoginError('登录失败：' + reason);
  }
  const session = res.data.data; // {skey, userinfo, time}
  wx.setStorageSync(KEY, session);
  return session;
}

function expired(res) {
  return res.statusCode === 401 || (res.data && res.data.code === -1 && res.data.error === 'ERR_SKEY_INVALID');
}

// request is wx.request with the session; it resolves {statusCode, data, header}.
async function request(options) {
  let session = current() || (await login());
  for (let attempt = 0; ; attempt++) {
    const header = Object.assign({}, options.header, { 'X-WX-Skey': session.skey });
    const res = await call(wx.request, Object.assign({}, options, { header }));
    if (unavailable(res)) throw new UnavailableError();
    if (expired(res) && attempt === 0) {
      clear();
      session = await login();
      continue;
    }
    return res;
  }
}

module.exports = { login, request, current, clear, LoginError, UnavailableError };
