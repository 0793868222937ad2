// The backend's origin. `applet provision` prints the value for your domain; `applet init` documents it.
// Every app is under /applet on this host.
module.exports = {
  host: 'https://applet.example.com',
};
