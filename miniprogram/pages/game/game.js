const config = require('../../config.js');
const session = require('../../lib/session.js');
const { SocketIO } = require('../../lib/socketio.js');

const CHOICES = { 1: '剪刀', 2: '石头', 3: '布' };

function wsURL(path) {
  return config.host.replace(/^http/, 'ws') + path;
}

// The round's outcome for me: the original page threw here on every lost round (it assigned an
// undeclared variable), so losses were never shown.
function outcome(result, uid) {
  const mine = result.find((r) => r.uid === uid);
  const others = result.filter((r) => r.uid !== uid);
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
    state: 'connecting', // connecting → ready → waiting → playing → result (→ waiting …); left
    nearby: 0,
    uid: '',
    roomUsers: [],
    countdown: 0,
    myChoice: 0,
    opponentMoved: false,
    opponentFace: 0,
    verdict: '',
    roundScore: 0,
    totalScore: 0,
    winStreak: 0,
    message: '',
    choices: CHOICES,
  },

  async onLoad() {
    let s;
    try {
      s = session.current() || (await session.login());
    } catch (err) {
      this.setData({ state: 'error', message: err.message });
      return;
    }
    const uid = s.userinfo.openId;
    this.setData({ uid });
    const socket = new SocketIO(wsURL('/applet/websocket/socket.io/'), { header: { 'X-WX-Skey': s.skey } });
    this.socket = socket;
    socket.on('connect', () => {
      socket.emit('hello', { user: { uid, uname: s.userinfo.nickName || '玩家', uavatar: s.userinfo.avatarUrl || '' } });
    });
    socket.on('hi', (d) => this.setData({ state: this.data.state === 'connecting' ? 'ready' : this.data.state, nearby: d.nearby }));
    socket.on('start', (d) => this.onStart(d));
    socket.on('movement', (d) => {
      if (d.uid === this.data.uid) return;
      if (d.movement === 'choice') this.setData({ opponentMoved: true });
      if (d.movement === 'face') this.setData({ opponentFace: d.face });
    });
    socket.on('result', (d) => this.onResult(d));
    socket.on('leave', () => this.onOpponentLeft());
    socket.on('error', (d) => this.setData({ message: d.message }));
  },

  onUnload() {
    clearInterval(this.timer);
    if (this.socket) this.socket.close();
  },

  join() {
    this.setData({ state: 'waiting', message: '', verdict: '' });
    this.socket.emit('join');
  },

  rematch() {
    this.join();
  },

  leave() {
    this.socket.emit('leave');
    this.setData({ state: 'ready' });
  },

  onStart(d) {
    clearInterval(this.timer);
    this.setData({ state: 'playing', roomUsers: d.roomUsers, countdown: d.gameTime, myChoice: 0, opponentMoved: false, opponentFace: 0 });
    this.timer = setInterval(() => {
      const left = this.data.countdown - 1;
      this.setData({ countdown: Math.max(left, 0) });
      if (left <= 0) clearInterval(this.timer);
    }, 1000);
  },

  choose(e) {
    if (this.data.state !== 'playing') return;
    const choice = Number(e.currentTarget.dataset.choice);
    this.setData({ myChoice: choice });
    this.socket.emit('choice', { choice });
  },

  sendFace(e) {
    this.socket.emit('face', { face: Number(e.currentTarget.dataset.face) });
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
