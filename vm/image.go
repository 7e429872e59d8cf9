package vm

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultMirror is the Debian archive debootstrap reads from.
const DefaultMirror = "http://deb.debian.org/debian"

// imageFiles are the files that shape the image: the build script and what it bakes in. Their
// hash is the cache key.
//
//go:embed mkrootfs.sh guest/boot.sh guest/procfsd-vm-runner.service
var imageFiles embed.FS

// guestFiles are copied onto the share for each run; changing them never rebuilds the image.
//
//go:embed guest
var guestFiles embed.FS

// Image is a built node: a kernel, its initramfs and an ext4 root file system image.
type Image struct {
	Dir string
}

// Kernel is the path of the guest kernel.
func (i Image) Kernel() string { return filepath.Join(i.Dir, "vmlinuz") }

// Initrd is the path of the guest initramfs.
func (i Image) Initrd() string { return filepath.Join(i.Dir, "initrd.img") }

// Rootfs is the path of the raw ext4 root file system image.
func (i Image) Rootfs() string { return filepath.Join(i.Dir, "rootfs.img") }

// ImageKey is the cache key of the image the embedded build script makes.
func ImageKey() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(imageFiles, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := imageFiles.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash image files: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// BuildImage returns the image cached under cacheDir, building it first if it is missing. The
// build runs debootstrap against mirror (as root) and writes its output to log. Downloaded
// packages are kept in cacheDir/debs; images of other keys are removed after a build. Concurrent
// callers are serialised by a lock file in cacheDir.
func BuildImage(ctx context.Context, cacheDir, mirror string, log io.Writer) (Image, error) {
	key, err := ImageKey()
	if err != nil {
		return Image{}, err
	}
	img := Image{Dir: filepath.Join(cacheDir, "image-"+key)}
	unlock, err := lock(filepath.Join(cacheDir, "image.lock"))
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	if _, err := os.Stat(img.Rootfs()); err == nil {
		return img, nil
	}
	src, err := os.MkdirTemp(cacheDir, "src-")
	if err != nil {
		return Image{}, fmt.Errorf("build image: %w", err)
	}
	defer os.RemoveAll(src)
	if err := copyFS(src, imageFiles); err != nil {
		return Image{}, err
	}
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(src, "mkrootfs.sh"),
		img.Dir, mirror, filepath.Join(cacheDir, "debs"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", img.Dir, err)
	}
	pruneImages(cacheDir, img.Dir)
	return img, nil
}

// pruneImages removes images (and half-built ones) other than keep: each is a few hundred MB.
func pruneImages(cacheDir, keep string) {
	old, _ := filepath.Glob(filepath.Join(cacheDir, "image-*"))
	for _, dir := range old {
		if dir != keep {
			os.RemoveAll(dir)
		}
	}
}

// lock takes an exclusive flock on path, creating it if needed.
func lock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// copyFS writes every file of src under dir, keeping the tree; scripts get the execute bit.
func copyFS(dir string, src fs.FS) error {
	return fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, path)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(src, path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return fmt.Errorf("copy %s: %w", path, err)
		}
		return nil
	})
}
