package memory_test

import (
	"testing"

	"github.com/qcloud-applet/applet/serve/memory"
	"github.com/qcloud-applet/applet/serve/session"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func TestMemorySessions(t *testing.T) {
	storetest.RunSessionStore(t, func(t *testing.T) session.Store { return memory.NewSessions() })
}
