const config = require('../../config.js');
const session = require('../../lib/session.js');
const errors = require('../../lib/errors.js');
const { SocketIO } = require('../../lib/socketio.js');

const CHOICES = { 1: '剪刀', 2: '石头', 3: '布' };
const FACES = { 1: '😀', 2: '😢', 3: '😡' };

function wsURL(path) {
  return config.host.replace(/^http/, 'ws') + path;
}

// The round's outcome for me: the original page threw here on every lost round (it assigned an
// undeclared variable), so losses were never shown. The server names me by my own uid and the
// others by a pseudonym.
function outcome(result, uid) {
  const mine = result.find((r) => r.uid === uid) || { choice: 0, roundScore: 0, totalScore: 0, winStreak: 0 };
  const others = result.filter((r) => r !== mine);
  let x = 0;
  others.forEach((o) => {
    if (mine.choice === o.choice) return;
    if (!mine.choice) x -= 1;
    else if (!o.choice) x += 1;
    else x += (mine.choice - o.choice + 3) % 3 === 1 ? 1 : -1;
  });
  return { mine, others, verdict: x > 0 ? 'win' : x < 0 ? 'lose' : 'tie' };
}

Page({
  data: {
    // connecting → ready → waiting → playing → result (→ waiting …); left; error (no login)
    state: 'connecting',
    online: false, // the socket is connected and has said hello
    reconnecting: false,
    uid: '',
    opponent: '',
    countdown: 0,
    myChoice: 0,
    opponentMoved: false,
    opponentFace: '',
    verdict: '',
    roundScore: 0,
    totalScore: 0,
    winStreak: 0,
    message: '',
    choices: CHOICES,
    faces: FACES,
  },

  onLoad() {
    const connecting = this.connect();
    if (wx.onNetworkStatusChange) {
      this.onNet = (res) => { if (res.isConnected && this.socket) this.socket.reconnectNow(); };
      wx.onNetworkStatusChange(this.onNet);
    }
    return connecting;
  },

  // A tab page is never unloaded: coming back to it reconnects at once if the link was lost.
  onShow() {
    if (this.socket) this.socket.reconnectNow();
    else if (this.data.state === 'error') this.retry();
  },

  onUnload() {
    clearInterval(this.timer);
    if (this.onNet && wx.offNetworkStatusChange) wx.offNetworkStatusChange(this.onNet);
    if (this.socket) this.socket.close();
  },

  async connect() {
    this.setData({ state: 'connecting', message: '' });
    let s;
    try {
      s = await session.ensure();
    } catch (err) {
      this.setData({ state: 'error', message: errors.message(err, '登录失败，请重试') });
      return;
    }
    this.setData({ uid: s.userinfo.openId });
    // The handshake is built from the session as it is at each connect: a new login's skey.
    const socket = new SocketIO(wsURL('/applet/websocket/socket.io/'), { header: () => {
      const cur = session.current();
      return cur ? { 'X-WX-Skey': cur.skey } : {};
    } });
    this.socket = socket;
    socket.on('connect', () => {
      const cur = session.current() || s;
      this.setData({ uid: cur.userinfo.openId });
      socket.emit('hello', { user: { uid: cur.userinfo.openId, uname: cur.userinfo.nickName || '玩家', uavatar: cur.userinfo.avatarUrl || '' } });
    });
    socket.on('hi', () => this.onHi());
    socket.on('reconnecting', () => this.setData({ reconnecting: true }));
    socket.on('disconnect', () => this.onDisconnect());
    socket.on('handshake_failed', () => this.checkLogin());
    socket.on('start', (d) => this.onStart(d));
    socket.on('movement', (d) => {
      if (d.uid === this.data.uid) return;
      if (d.movement === 'choice') this.setData({ opponentMoved: true });
      if (d.movement === 'face') this.setData({ opponentFace: FACES[d.face] || '🙂' });
    });
    socket.on('result', (d) => this.onResult(d));
    socket.on('leave', () => this.onOpponentLeft());
    socket.on('error', (d) => this.onServerError(d));
  },

  // checkLogin runs after an upgrade that failed: a login the server no longer knows answers 401
  // there, which WeChat does not report; an HTTP call with the same skey finds out and logs in again.
  async checkLogin() {
    if (this.checking) return;
    this.checking = true;
    try {
      await session.request({ url: config.host + '/applet/session/user', method: 'GET' });
      if (this.socket) this.socket.reconnectNow();
    } catch (err) {
      this.setData({ message: errors.message(err, '连接失败，正在重试…') });
    } finally {
      this.checking = false;
    }
  },

  retry() {
    if (this.socket) this.socket.close();
    this.socket = null;
    return this.connect();
  },

  // A wait or round cut by the link was already ended by onDisconnect, with the reason shown.
  onHi() {
    this.setData({ online: true, reconnecting: false, state: this.data.state === 'connecting' ? 'ready' : this.data.state });
  },

  // A wait or a round does not survive the link: say so now, not when the link is back.
  onDisconnect() {
    clearInterval(this.timer);
    const st = this.data.state;
    const lost = st === 'waiting' || st === 'playing';
    this.setData({ online: false, reconnecting: true, state: lost ? 'ready' : st, message: lost ? '网络中断，本局已结束，请重新匹配' : this.data.message });
  },

  onServerError(d) {
    const msg = errors.fromReason(d && d.message) || '出错了，请稍后再试';
    const st = this.data.state;
    this.setData({ message: msg, state: st === 'waiting' ? 'ready' : st });
  },

  join() {
    if (!this.socket || !this.socket.emit('join')) {
      this.setData({ message: '网络未连接，请稍后再试' });
      return;
    }
    this.setData({ state: 'waiting', message: '', verdict: '' });
  },

  rematch() {
    this.join();
  },

  leave() {
    if (this.socket) this.socket.emit('leave');
    this.setData({ state: 'ready', message: '' });
  },

  onStart(d) {
    clearInterval(this.timer);
    const other = (d.roomUsers || []).find((u) => u.uid !== this.data.uid);
    this.setData({ state: 'playing', opponent: (other && other.uname) || '对手', countdown: d.gameTime, myChoice: 0, opponentMoved: false, opponentFace: '' });
    this.timer = setInterval(() => {
      const left = this.data.countdown - 1;
      this.setData({ countdown: Math.max(left, 0) });
      if (left <= 0) clearInterval(this.timer);
    }, 1000);
  },

  choose(e) {
    if (this.data.state !== 'playing') return;
    const choice = Number(e.currentTarget.dataset.choice);
    if (!this.socket.emit('choice', { choice })) return;
    this.setData({ myChoice: choice });
  },

  sendFace(e) {
    if (this.socket) this.socket.emit('face', { face: Number(e.currentTarget.dataset.face) });
  },

  onResult(d) {
    clearInterval(this.timer);
    const r = outcome(d.result, this.data.uid);
    this.setData({ state: 'result', verdict: r.verdict, roundScore: r.mine.roundScore, totalScore: r.mine.totalScore, winStreak: r.mine.winStreak });
  },

  onOpponentLeft() {
    clearInterval(this.timer);
    this.setData({ state: 'left', message: '对手离开了' });
  },
});
