-- The original video table, its column names kept for old clients, with limits and timestamps.
CREATE TABLE IF NOT EXISTS video (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  video_title VARCHAR(255) NOT NULL,
  video_image VARCHAR(1024) NOT NULL,
  video_url VARCHAR(1024) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
