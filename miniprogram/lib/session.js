// Requests with a login session, the skey protocol of `applet serve session` (wafer2-client-sdk's):
// log in with wx.login's code, keep the skey, send it as X-WX-Skey. One login at a time (every
// caller waits for the same one); a 401 anywhere (HTTP, or the game's upgrade) clears the skey and
// logs in once before retrying. It does not use wx.getUserInfo, which no longer returns a profile.
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

// current is the stored session when it looks like one (storage may hold anything from an old build).
function current() {
  const s = wx.getStorageSync(KEY);
  return s && typeof s === 'object' && typeof s.skey === 'string' && s.skey && s.userinfo ? s : null;
}

function clear() {
  wx.removeStorageSync(KEY);
}

// invalidate drops the stored session if it is still the one that was refused (a newer login stays).
function invalidate(skey) {
  const s = current();
  if (!s || !skey || s.skey === skey) clear();
}

async function doLogin() {
  let code;
  try {
    code = (await call(wx.login, {})).code;
  } catch (err) {
    throw new LoginError('微信登录失败，请检查网络后重试', err);
  }
  let res;
  try {
    res = await call(wx.request, { url: config.host + '/applet/session/login', method: 'GET', header: { 'X-WX-Code': code } });
  } catch (err) {
    throw new LoginError('登录失败：网络不可用，请检查网络后重试', err);
  }
  if (unavailable(res)) throw new UnavailableError();
  if (res.statusCode !== 200 || !res.data || typeof res.data !== 'object' || res.data.code !== 0) {
    throw new LoginError(res.statusCode >= 500 ? '登录失败：服务器出错了，请稍后再试' : '登录失败，请稍后再试');
  }
  const session = res.data.data; // {skey, userinfo, time}
  wx.setStorageSync(KEY, session);
  return session;
}

let inflight = null;

// login logs in; callers that come while one is under way share it.
function login() {
  if (!inflight) inflight = doLogin().finally(() => { inflight = null; });
  return inflight;
}

// ensure is the stored session, or a new login.
async function ensure() {
  return current() || login();
}

function expired(res) {
  return res.statusCode === 401 || (res.data && res.data.code === -1 && res.data.error === 'ERR_SKEY_INVALID');
}

// withSession runs send(header) with the session's header; on a 401 it logs in once and sends again.
async function withSession(send) {
  let session = await ensure();
  for (let attempt = 0; ; attempt++) {
    const res = await send({ 'X-WX-Skey': session.skey });
    if (unavailable(res)) throw new UnavailableError();
    if (expired(res) && attempt === 0) {
      invalidate(session.skey);
      session = await login();
      continue;
    }
    return res;
  }
}

// request is wx.request with the session; it resolves {statusCode, data, header}.
function request(options) {
  return withSession((h) => call(wx.request, Object.assign({}, options, { header: Object.assign({}, options.header, h) })));
}

module.exports = { login, ensure, request, withSession, current, clear, invalidate, LoginError, UnavailableError };
