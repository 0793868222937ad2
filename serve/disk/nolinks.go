package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// errLink is a symbolic link where an image or its folders should be: never followed, so a link
// planted in the album folder cannot serve or delete a file outside it.
var errLink = errors.New("disk: a symbolic link is in the way")

// dir opens the directory of key's file under the root, one component at a time, refusing links
// (os.Root would follow a link that stays inside the root). It returns the directory's descriptor
// and the file's name.
func (s *Storage) dir(key string) (int, string, error) {
	p, err := s.file(key)
	if err != nil {
		return -1, "", err
	}
	rel, err := filepath.Rel(s.root, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return -1, "", errLink
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	fd, err := unix.Open(s.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	for _, part := range parts[:len(parts)-1] {
		next, err := unix.Openat(fd, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, "", errLink
		}
		if err != nil {
			return -1, "", &os.PathError{Op: "open", Path: part, Err: err}
		}
		fd = next
	}
	return fd, parts[len(parts)-1], nil
}

// openImage opens key's file for reading, refusing links on the way and at the end.
func (s *Storage) openImage(key string) (*os.File, error) {
	dfd, name, err := s.dir(key)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, errLink
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: key, Err: err}
	}
	return os.NewFile(uintptr(fd), key), nil
}

// removeImage deletes key's file unless it, or a folder on its way, is a link.
func (s *Storage) removeImage(key string) error {
	dfd, name, err := s.dir(key)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "stat", Path: key, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errLink
	}
	if err := unix.Unlinkat(dfd, name, 0); err != nil {
		return &os.PathError{Op: "remove", Path: key, Err: err}
	}
	return nil
}
