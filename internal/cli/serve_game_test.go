package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qcloud-applet/applet/internal/config"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/wechat/wechatfake"
)

// A handshake that carries a session plays under the session's openId, whatever hello claims.
func TestGameUsesTheSessionIdentity(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Game.BotDelay = 50 * time.Millisecond
	cfg.Game.GameTime = 200 * time.Millisecond
	wxConfig(t, cfg)
	ts, _ := wiredServer(t, cfg, "session", "game")

	req, _ := http.NewRequest("GET", ts.URL+session.BasePath+"/login", nil)
	req.Header.Set(session.HeaderCode, "gina:1")
	_, out := doReq(t, req)
	skey := out["data"].(map[string]any)["skey"].(string)

	hdr := http.Header{}
	hdr.Set(session.HeaderSkey, skey)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/applet/websocket/socket.io//?EIO=3&transport=websocket", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`42["hello",{"user":{"uid":"someone-else","uname":"g"}}]`))
	ws.WriteMessage(websocket.TextMessage, []byte(`42["join"]`))
	want := wechatfake.OpenID(cfg.WeChat.AppID, "gina:1")
	ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no start: %v", err)
		}
		if !strings.HasPrefix(string(b), `42["start"`) {
			continue
		}
		var args []json.RawMessage
		json.Unmarshal(b[2:], &args)
		if !strings.Contains(string(args[1]), `"uid":"`+want+`"`) || strings.Contains(string(args[1]), "someone-else") {
			t.Fatalf("start: %s, want uid %s", args[1], want)
		}
		return
	}
}
