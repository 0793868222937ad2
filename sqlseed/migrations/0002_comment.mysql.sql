-- Comments, newest first per video: the (vid, id) index serves commentList without a sort.
CREATE TABLE IF NOT EXISTS comment (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  vid INT UNSIGNED NOT NULL,
  nick VARCHAR(64) NOT NULL,
  avatar VARCHAR(1024) NOT NULL,
  content VARCHAR(500) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY comment_vid_id (vid, id),
  CONSTRAINT comment_video FOREIGN KEY (vid) REFERENCES video (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
