package game

import (
	"encoding/json"
	"testing"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		p     Protocol
		frame string
		kind  int
		name  string
		data  string
		ack   int
		ns    string
	}{
		{EIO3, `42["hello",{"user":{"uid":"u1"}}]`, inEvent, "hello", `{"user":{"uid":"u1"}}`, -1, "/"},
		{EIO3, `42["join"]`, inEvent, "join", "", -1, "/"},
		{EIO4, `4212["choice",{"choice":2}]`, inEvent, "choice", `{"choice":2}`, 12, "/"},
		{EIO4, `42/admin,3["x",1]`, inEvent, "x", `1`, 3, "/admin"},
		{EIO4, `40`, inConnect, "", "", -1, "/"},
		{EIO4, `40{"token":"x"}`, inConnect, "", `{"token":"x"}`, -1, "/"},
		{EIO4, `40/chat,`, inConnect, "", "", -1, "/chat"},
		{EIO3, `2`, inPing, "", "", -1, "/"},
		{EIO3, `2probe`, inPing, "", "", -1, "/"},
		{EIO4, `3`, inPong, "", "", -1, "/"},
		{EIO4, `1`, inClose, "", "", -1, "/"},
		{EIO4, `41`, inDisconnect, "", "", -1, "/"},
		{EIO3, `6`, inNoop, "", "", -1, "/"},
		{Plain, `{"event":"choice","data":{"choice":3}}`, inEvent, "choice", `{"choice":3}`, -1, "/"},
	}
	for _, c := range cases {
		in, err := decode(c.p, []byte(c.frame))
		if err != nil || in.kind != c.kind || in.name != c.name || string(in.data) != c.data || in.ackID != c.ack || in.namespace != c.ns {
			t.Errorf("decode(%q) = %+v, %v", c.frame, in, err)
		}
	}
	for _, bad := range []string{``, `42`, `42not json`, `42{"hello":1}`, `42[]`, `42[1,2]`, `9`, `4`, `47["x"]`, `421234567890["x"]`} {
		if _, err := decode(EIO3, []byte(bad)); err == nil {
			t.Errorf("decode(%q) should fail", bad)
		}
	}
	for _, bad := range []string{`[]`, `{"data":1}`, `hello`} {
		if _, err := decode(Plain, []byte(bad)); err == nil {
			t.Errorf("plain decode(%q) should fail", bad)
		}
	}
}

func TestEncode(t *testing.T) {
	if got := string(encodeEvent(EIO3, "hi", map[string]any{"message": "welcome", "nearby": 2})); got != `42["hi",{"message":"welcome","nearby":2}]` {
		t.Errorf("event: %s", got)
	}
	if got := string(encodeEvent(Plain, "leave", map[string]any{"uid": "u"})); got != `{"event":"leave","data":{"uid":"u"}}` {
		t.Errorf("plain: %s", got)
	}
	if got := string(encodeAck("/", 7, "ok")); got != `437["ok"]` {
		t.Errorf("ack: %s", got)
	}
	var open map[string]any
	b := openPacket(EIO4, "abc", 25000, 20000)
	if b[0] != '0' || json.Unmarshal(b[1:], &open) != nil || open["sid"] != "abc" || open["maxPayload"] == nil {
		t.Errorf("open: %s", b)
	}
	if string(connectPacket(EIO3, "s")) != "40" || string(connectPacket(EIO4, "s")) != `40{"sid":"s"}` {
		t.Error("connect packets")
	}
}
