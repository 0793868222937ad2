-- Sample videos written for applet: replace the titles and URLs with your own, or delete the rows.
-- Their posters and clips ship with applet: the relative URLs resolve against the video app (or, on
-- a deployment with a bucket, the bucket, where provision puts the same files at the same paths);
-- the seed is recorded once applied and never brings deleted rows back. It goes only into an empty
-- video table, never beside a team's own videos.
-- applet:only-into-empty video
INSERT INTO video (video_title, video_image, video_url) VALUES ('Harbor Lights', '/applet/video/media/01-harbor-lights.jpg', '/applet/video/media/01-harbor-lights.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('The Long Ridge', '/applet/video/media/02-the-long-ridge.jpg', '/applet/video/media/02-the-long-ridge.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('雨夜列车', '/applet/video/media/03-night-train.jpg', '/applet/video/media/03-night-train.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Paper Kites', '/applet/video/media/04-paper-kites.jpg', '/applet/video/media/04-paper-kites.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Salt and Copper', '/applet/video/media/05-salt-and-copper.jpg', '/applet/video/media/05-salt-and-copper.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('山间来信', '/applet/video/media/06-letters-from-the-hills.jpg', '/applet/video/media/06-letters-from-the-hills.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Orbit Nine', '/applet/video/media/07-orbit-nine.jpg', '/applet/video/media/07-orbit-nine.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('The Quiet Workshop', '/applet/video/media/08-the-quiet-workshop.jpg', '/applet/video/media/08-the-quiet-workshop.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Tidewater', '/applet/video/media/09-tidewater.jpg', '/applet/video/media/09-tidewater.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('青石巷', '/applet/video/media/10-bluestone-lane.jpg', '/applet/video/media/10-bluestone-lane.mp4');
