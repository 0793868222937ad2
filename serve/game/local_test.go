package game_test

import (
	"testing"

	"github.com/qcloud-applet/applet/serve/game"
	"github.com/qcloud-applet/applet/serve/storetest"
)

func TestLocalCluster(t *testing.T) {
	storetest.RunGameCluster(t, func(t *testing.T) game.Cluster {
		c := game.NewLocalCluster()
		t.Cleanup(func() { c.Close() })
		return c
	}, false)
}
