-- Comments, newest first per video: the (vid, id) index serves commentList without a sort.
CREATE TABLE IF NOT EXISTS comment (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  vid INTEGER NOT NULL REFERENCES video (id) ON DELETE CASCADE,
  nick TEXT NOT NULL CHECK (length(nick) <= 64),
  avatar TEXT NOT NULL CHECK (length(avatar) <= 1024),
  content TEXT NOT NULL CHECK (length(content) <= 500),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS comment_vid_id ON comment (vid, id);
