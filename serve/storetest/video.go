// Package storetest holds one conformance suite per store interface; every implementation runs it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/qcloud-applet/applet/serve/video"
)

// NewVideoStore returns an empty store holding n videos with ids 1..n, titled "video <id>".
type NewVideoStore func(t *testing.T, n int) video.Store

// RunVideoStore checks the contract documented on video.Store.
func RunVideoStore(t *testing.T, newStore NewVideoStore) {
	ctx := context.Background()

	t.Run("VideosPageInIDOrder", func(t *testing.T) {
		s := newStore(t, 14)
		var seen []int64
		for offset := 0; offset < 14; offset += 6 {
			list, total, err := s.Videos(ctx, offset, 6)
			if err != nil {
				t.Fatal(err)
			}
			if total != 14 {
				t.Fatalf("total = %d, want 14", total)
			}
			for _, v := range list {
				if v.Title != fmt.Sprintf("video %d", v.ID) || v.Image == "" || v.URL == "" {
					t.Fatalf("video %+v", v)
				}
				seen = append(seen, v.ID)
			}
		}
		if len(seen) != 14 {
			t.Fatalf("paged %d videos, want 14: %v", len(seen), seen)
		}
		for i := range seen {
			if seen[i] != int64(i+1) {
				t.Fatalf("order %v, want 1..14", seen)
			}
		}
		again, _, err := s.Videos(ctx, 6, 6)
		if err != nil || len(again) != 6 || again[0].ID != 7 {
			t.Fatalf("second read of page 2 = %v, %v", again, err)
		}
		past, total, err := s.Videos(ctx, 60, 6)
		if err != nil || len(past) != 0 || past == nil || total != 14 {
			t.Fatalf("past the end = %v (nil %v), %d, %v; want empty, 14", past, past == nil, total, err)
		}
	})

	t.Run("VideosAfterAndTheirStamp", func(t *testing.T) {
		s := newStore(t, 14)
		var all []video.Video
		for after := int64(0); ; {
			chunk, err := s.VideosAfter(ctx, after, 5)
			if err != nil || chunk == nil || len(chunk) > 5 {
				t.Fatalf("after %d = %v, %v", after, chunk, err)
			}
			if len(chunk) == 0 {
				break
			}
			all = append(all, chunk...)
			after = chunk[len(chunk)-1].ID
		}
		if len(all) != 14 {
			t.Fatalf("all = %d videos", len(all))
		}
		for i, v := range all {
			if v.ID != int64(i+1) || v.Title != fmt.Sprintf("video %d", v.ID) || v.URL == "" {
				t.Fatalf("all[%d] = %+v", i, v)
			}
		}
		if rest, err := s.VideosAfter(ctx, 12, 100); err != nil || len(rest) != 2 || rest[0].ID != 13 {
			t.Fatalf("after 12 = %v, %v", rest, err)
		}
		st, err := s.VideoStamp(ctx)
		if err != nil || st.Count != 14 || st.MaxID != 14 || st.Updated == "" {
			t.Fatalf("stamp = %+v, %v", st, err)
		}
		empty := newStore(t, 0)
		if all, err := empty.VideosAfter(ctx, 0, 10); err != nil || all == nil || len(all) != 0 {
			t.Fatalf("empty all = %v, %v", all, err)
		}
		if st, err := empty.VideoStamp(ctx); err != nil || st != (video.Stamp{}) {
			t.Fatalf("empty stamp = %+v, %v", st, err)
		}
	})

	t.Run("EmptyStore", func(t *testing.T) {
		s := newStore(t, 0)
		list, total, err := s.Videos(ctx, 0, 6)
		if err != nil || len(list) != 0 || total != 0 {
			t.Fatalf("empty = %v, %d, %v", list, total, err)
		}
	})

	t.Run("CommentsNewestFirstAndPaged", func(t *testing.T) {
		s := newStore(t, 2)
		if _, err := s.Comments(ctx, 99, 0, 10); !errors.Is(err, video.ErrVideoNotFound) {
			t.Fatalf("unknown video: err = %v", err)
		}
		empty, err := s.Comments(ctx, 1, 0, 10)
		if err != nil || empty == nil || len(empty) != 0 {
			t.Fatalf("no comments = %v, %v; want empty non-nil", empty, err)
		}
		var ids []int64
		for i := 0; i < 5; i++ {
			c, err := s.AddComment(ctx, video.Comment{VID: 1, Nick: "n", Avatar: "https://a.example/x.png", Content: fmt.Sprintf("c%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if c.ID == 0 {
				t.Fatal("AddComment returned no id")
			}
			ids = append(ids, c.ID)
		}
		if _, err := s.AddComment(ctx, video.Comment{VID: 2, Nick: "n", Avatar: "https://a.example/x.png", Content: "other"}); err != nil {
			t.Fatal(err)
		}
		all, err := s.Comments(ctx, 1, 0, 10)
		if err != nil || len(all) != 5 {
			t.Fatalf("comments = %v, %v", all, err)
		}
		for i, c := range all {
			if c.ID != ids[4-i] || c.Content != fmt.Sprintf("c%d", 4-i) || c.VID != 1 {
				t.Fatalf("comment %d = %+v; want newest first", i, c)
			}
		}
		page, err := s.Comments(ctx, 1, 0, 2)
		if err != nil || len(page) != 2 || page[0].ID != ids[4] {
			t.Fatalf("limit 2 = %v, %v", page, err)
		}
		next, err := s.Comments(ctx, 1, page[1].ID, 2)
		if err != nil || len(next) != 2 || next[0].ID != ids[2] || next[1].ID != ids[1] {
			t.Fatalf("before %d = %v, %v", page[1].ID, next, err)
		}
		last, err := s.Comments(ctx, 1, ids[0], 2)
		if err != nil || len(last) != 0 {
			t.Fatalf("before the oldest = %v, %v", last, err)
		}
	})

	t.Run("AddCommentToUnknownVideoStoresNothing", func(t *testing.T) {
		s := newStore(t, 1)
		_, err := s.AddComment(ctx, video.Comment{VID: 2, Nick: "n", Avatar: "https://a.example/x.png", Content: "x"})
		if !errors.Is(err, video.ErrVideoNotFound) {
			t.Fatalf("err = %v, want ErrVideoNotFound", err)
		}
		if _, err := s.Comments(ctx, 2, 0, 10); !errors.Is(err, video.ErrVideoNotFound) {
			t.Fatalf("comments of unknown video: %v", err)
		}
		c, err := s.AddComment(ctx, video.Comment{VID: 1, Nick: "n", Avatar: "https://a.example/x.png", Content: "x"})
		if err != nil {
			t.Fatal(err)
		}
		list, _ := s.Comments(ctx, 1, 0, 10)
		if len(list) != 1 || list[0].ID != c.ID {
			t.Fatalf("after a refused comment the store holds %v", list)
		}
	})

	t.Run("TextRoundTrips", func(t *testing.T) {
		s := newStore(t, 1)
		texts := []string{
			"好看！🎬🍿👍🏽",
			`<script>alert("x")</script> & 'quotes'`,
			strings.Repeat("長", video.MaxContent),
			"line\nbreak\ttab \\ backslash % _",
		}
		for _, text := range texts {
			in := video.Comment{VID: 1, Nick: "🐼" + strings.Repeat("n", video.MaxNick-1), Avatar: "https://a.example/头像.png", Content: text}
			c, err := s.AddComment(ctx, in)
			if err != nil {
				t.Fatalf("%.20q: %v", text, err)
			}
			got, err := s.Comments(ctx, 1, 0, 1)
			if err != nil || len(got) != 1 {
				t.Fatal(got, err)
			}
			if got[0].ID != c.ID || got[0].Content != text || got[0].Nick != in.Nick || got[0].Avatar != in.Avatar {
				t.Fatalf("stored %+v, read back %+v", in, got[0])
			}
		}
	})

	t.Run("ConcurrentComments", func(t *testing.T) {
		s := newStore(t, 1)
		const n = 40
		var wg sync.WaitGroup
		ids := make(chan int64, n)
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.AddComment(ctx, video.Comment{VID: 1, Nick: "n", Avatar: "https://a.example/x.png", Content: fmt.Sprint(i)})
				if err != nil {
					errs <- err
					return
				}
				ids <- c.ID
			}()
		}
		wg.Wait()
		close(ids)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		uniq := map[int64]bool{}
		for id := range ids {
			uniq[id] = true
		}
		list, err := s.Comments(ctx, 1, 0, 100)
		if err != nil || len(uniq) != n || len(list) != n {
			t.Fatalf("%d unique ids, %d listed, %v; want %d", len(uniq), len(list), err, n)
		}
	})

	t.Run("Ready", func(t *testing.T) {
		s := newStore(t, 0)
		if err := s.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
