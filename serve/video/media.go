package video

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/qcloud-applet/applet/serve"
)

// The sample videos' posters and clips (made by scripts/sample-media.sh): the app serves them at
// BasePath+MediaPath, and provision puts them in the bucket at the same path, so the sample rows'
// relative URLs resolve against the app or the bucket alike.
//
//go:embed media/*.jpg media/*.mp4
var media embed.FS

// MediaPath is where, under the base path, the app serves the sample media.
const MediaPath = "/media/"

// MediaFile is one sample media file.
type MediaFile struct {
	Path        string // the URL path, e.g. /applet/video/media/01-harbor-lights.jpg
	ContentType string
	Data        []byte
}

// Media lists the sample media files.
func Media() []MediaFile {
	entries, _ := fs.ReadDir(media, "media")
	out := make([]MediaFile, 0, len(entries))
	for _, e := range entries {
		data, _ := fs.ReadFile(media, "media/"+e.Name())
		out = append(out, MediaFile{Path: BasePath + MediaPath + e.Name(), ContentType: mime.TypeByExtension(path.Ext(e.Name())), Data: data})
	}
	return out
}

// serveMedia answers a sample file with ranges (the video player asks for them) and a long cache life.
func (a *App) serveMedia(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	data, err := fs.ReadFile(media, "media/"+name)
	if err != nil || strings.Contains(name, "/") {
		serve.WriteJSON(w, http.StatusNotFound, map[string]any{"code": -1, "msg": "not found", "data": map[string]any{}})
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// resolve makes a relative URL (the sample rows') absolute against the media origin.
func resolve(origin, u string) string {
	if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") {
		return origin + u
	}
	return u
}
