-- Sample videos written for applet: replace the titles and URLs with your own, or delete the rows;
-- the seed is recorded once applied and never brings deleted rows back. It goes only into an empty
-- video table, never beside a team's own videos.
-- applet:only-into-empty video
INSERT INTO video (video_title, video_image, video_url) VALUES ('Harbor Lights', 'https://media.example.com/applet/posters/01-harbor-lights.jpg', 'https://media.example.com/applet/videos/01-harbor-lights.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('The Long Ridge', 'https://media.example.com/applet/posters/02-the-long-ridge.jpg', 'https://media.example.com/applet/videos/02-the-long-ridge.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('雨夜列车', 'https://media.example.com/applet/posters/03-night-train.jpg', 'https://media.example.com/applet/videos/03-night-train.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Paper Kites', 'https://media.example.com/applet/posters/04-paper-kites.jpg', 'https://media.example.com/applet/videos/04-paper-kites.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Salt and Copper', 'https://media.example.com/applet/posters/05-salt-and-copper.jpg', 'https://media.example.com/applet/videos/05-salt-and-copper.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('山间来信', 'https://media.example.com/applet/posters/06-letters-from-the-hills.jpg', 'https://media.example.com/applet/videos/06-letters-from-the-hills.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Orbit Nine', 'https://media.example.com/applet/posters/07-orbit-nine.jpg', 'https://media.example.com/applet/videos/07-orbit-nine.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('The Quiet Workshop', 'https://media.example.com/applet/posters/08-the-quiet-workshop.jpg', 'https://media.example.com/applet/videos/08-the-quiet-workshop.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('Tidewater', 'https://media.example.com/applet/posters/09-tidewater.jpg', 'https://media.example.com/applet/videos/09-tidewater.mp4');
INSERT INTO video (video_title, video_image, video_url) VALUES ('青石巷', 'https://media.example.com/applet/posters/10-bluestone-lane.jpg', 'https://media.example.com/applet/videos/10-bluestone-lane.mp4');
