package config

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// sectionHelp introduces each section in the file `applet init` writes.
var sectionHelp = map[string]string{
	"log":          "Structured logs of the servers.",
	"serve":        "The runtime shared by every app.",
	"album":        "applet serve album: the photo album (local disk by default, COS when cos.bucket is set).",
	"game":         "applet serve game: rock-paper-scissors over WebSocket.",
	"session":      "applet serve session: WeChat login sessions and the drawing store.",
	"video":        "applet serve video: the video list with comments.",
	"redis":        "Redis for sessions and the game across nodes; empty addr keeps them in process.",
	"mysql":        "MySQL for the video list; empty dsn uses the embedded store.",
	"mongo":        "MongoDB for the drawings; empty uri uses the in-process store.",
	"cos":          "Tencent Cloud COS for the album's images.",
	"wechat":       "The mini program's WeChat identity, for logins.",
	"tencentcloud": "The Tencent Cloud account applet provision works in.",
	"provision":    "applet provision: the instance, DNS, certificate and host it builds.",
}

// Render writes c as a commented YAML file with every key, its value and what it is for. Secrets are
// written empty: they belong in the environment (or a *_FILE), not in a file that gets copied around.
func Render(c *Config) []byte {
	var b bytes.Buffer
	b.WriteString("# applet configuration: every key with its default and what it is for.\n")
	b.WriteString("# Environment variables (named below each key) override this file; flags override both.\n")
	b.WriteString("# Secrets may also come from <NAME>_FILE, a file holding the value.\n")
	render(&b, c, false)
	return b.Bytes()
}

// RenderWithSecrets writes c like Render but with the secrets' values: for a host's own config file,
// which is written 0600 and read by the service only.
func RenderWithSecrets(c *Config, header string) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	render(&b, c, true)
	return b.Bytes()
}

func render(b *bytes.Buffer, c *Config, secrets bool) {
	section := ""
	for _, f := range c.Fields() {
		indent := ""
		if f.Section != "" {
			indent = "  "
			if f.Section != section {
				section = f.Section
				fmt.Fprintf(b, "\n# %s\n%s:\n", sectionHelp[section], section)
			}
		} else {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "%s# %s\n", indent, f.Help)
		env := f.Env
		if f.Secret {
			env += " or " + f.Env + "_FILE"
		}
		if f.AltEnv != "" {
			env += " or " + f.AltEnv
		}
		fmt.Fprintf(b, "%s# env: %s\n", indent, env)
		name := f.Key[strings.LastIndex(f.Key, ".")+1:]
		val := f.raw()
		if f.Secret && !secrets {
			val = ""
		}
		fmt.Fprintf(b, "%s%s: %s\n", indent, name, scalar(val))
	}
}

// scalar quotes s when YAML would otherwise read it as something else.
func scalar(s string) string {
	if s == "" {
		return `""`
	}
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}
