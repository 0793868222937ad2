-- The original video table, its column names kept for old clients, with limits and timestamps.
CREATE TABLE IF NOT EXISTS video (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  video_title TEXT NOT NULL CHECK (length(video_title) <= 255),
  video_image TEXT NOT NULL CHECK (length(video_image) <= 1024),
  video_url TEXT NOT NULL CHECK (length(video_url) <= 1024),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
