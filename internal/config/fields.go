package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Field is one leaf key of the configuration, addressed by its dotted path.
type Field struct {
	Key     string // "album.listen"
	Env     string // "APPLET_ALBUM_LISTEN"
	AltEnv  string // a conventional name read after Env, e.g. TENCENTCLOUD_SECRET_ID
	Help    string
	Secret  bool
	Section string // "album"; empty for top-level keys
	value   reflect.Value
}

// Fields lists every leaf key of c in declaration order; setting through a Field changes c.
func (c *Config) Fields() []Field {
	var out []Field
	walk(reflect.ValueOf(c).Elem(), "", "", &out)
	return out
}

// Field returns the field with the dotted key, if it exists.
func (c *Config) Field(key string) (Field, bool) {
	for _, f := range c.Fields() {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

var durationType = reflect.TypeOf(time.Duration(0))

func walk(v reflect.Value, prefix, section string, out *[]Field) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
			walk(fv, key, name, out)
			continue
		}
		*out = append(*out, Field{
			Key:     key,
			Env:     "APPLET_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
			AltEnv:  sf.Tag.Get("env"),
			Help:    sf.Tag.Get("help"),
			Secret:  sf.Tag.Get("secret") == "true",
			Section: section,
			value:   fv,
		})
	}
}

// Kind describes the value a field takes, for error messages.
func (f Field) Kind() string {
	switch {
	case f.value.Type() == durationType:
		return "a duration such as 30s or 10m"
	case f.value.Kind() == reflect.Int:
		return "a whole number"
	case f.value.Kind() == reflect.Bool:
		return "true or false"
	case f.value.Kind() == reflect.Float64:
		return "a number"
	default:
		return "a string"
	}
}

// Set parses s into the field.
func (f Field) Set(s string) error {
	switch {
	case f.value.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want %s", f.Kind())
		}
		f.value.SetInt(int64(d))
	case f.value.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want %s", f.Kind())
		}
		f.value.SetInt(int64(n))
	case f.value.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want %s", f.Kind())
		}
		f.value.SetBool(b)
	case f.value.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("want %s", f.Kind())
		}
		f.value.SetFloat(x)
	case f.value.Kind() == reflect.String:
		f.value.SetString(s)
	default:
		return fmt.Errorf("unsupported type %s", f.value.Type())
	}
	return nil
}

// String formats the field's value as it would be written in the file; secrets are masked.
func (f Field) String() string {
	if f.Secret && !f.value.IsZero() {
		return "<redacted>"
	}
	return f.raw()
}

func (f Field) raw() string {
	if f.value.Type() == durationType {
		return time.Duration(f.value.Int()).String()
	}
	return fmt.Sprint(f.value.Interface())
}

// IsZero reports whether the field holds its type's zero value.
func (f Field) IsZero() bool { return f.value.IsZero() }
