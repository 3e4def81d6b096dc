package tap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is an output file opened by Append, positioned at its end.
type File struct {
	*os.File
	// Format is the format of the file's lines.
	Format Format
	// Last is the cursor of the last fix in the file, 0 when it holds
	// none: give it to Config.After, so that fixes delivered again after a
	// crash are not written twice.
	Last uint64
	// Cut is how many bytes of a torn last line (a crash while it was
	// written) Append removed. The fix of that line was not acknowledged,
	// so it will be delivered and written again.
	Cut int64
}

// tailMax is how much of a file's end Append reads: many lines' worth (a
// line is a few hundred bytes at most).
const tailMax = 64 << 10

// Append opens the file at path to append fixes in format f, creating it
// (with the format's header) if it does not exist or is empty. It removes
// a torn last line, checks that the file is a tap output in that format,
// and reads the cursor of its last fix. Append does not lock the file: run
// one tap per file. Its errors wrap ErrFormat for a file that is not such
// an output.
func Append(path string, f Format) (*File, error) {
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tap: open output: %w", err)
	}
	out := &File{File: file, Format: f}
	if err := out.resume(f); err != nil {
		file.Close()
		return nil, fmt.Errorf("tap: output %s: %w", path, err)
	}
	return out, nil
}

func (out *File) resume(f Format) error {
	st, err := out.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file (use stdout for pipes)")
	}
	size := st.Size()
	from := max(0, size-tailMax)
	tail := make([]byte, size-from)
	if _, err := out.ReadAt(tail, from); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	end := bytes.LastIndexByte(tail, '\n') + 1 // length of the complete lines in tail
	if end == 0 && from > 0 {
		return fmt.Errorf("%w: no line ends in its last %d bytes", ErrFormat, tailMax)
	}
	if out.Cut = int64(len(tail) - end); out.Cut > 0 {
		if err := out.Truncate(from + int64(end)); err != nil {
			return err
		}
	}
	if from+int64(end) == 0 { // empty, or one torn line: a new output
		if h := f.Header(); h != nil {
			if _, err := out.Write(h); err != nil {
				return err
			}
		}
		if err := out.Sync(); err != nil {
			return err
		}
		return syncDir(filepath.Dir(out.Name()))
	}
	if err := out.checkStart(f); err != nil {
		return err
	}
	body := tail[:end-1]
	last := body[bytes.LastIndexByte(body, '\n')+1:]
	if len(last) == len(body) && from > 0 {
		return fmt.Errorf("%w: its last line is longer than %d bytes", ErrFormat, tailMax)
	}
	if f == CSV && string(last) == csvHeader[:len(csvHeader)-1] {
		return nil // a header and no fix yet
	}
	out.Last, err = f.cursorOf(last)
	return err
}

// checkStart checks the file's first bytes: CSV's header, or a JSON object.
func (out *File) checkStart(f Format) error {
	want := []byte(`{"cursor":`)
	if f == CSV {
		want = f.Header()
	}
	got := make([]byte, len(want))
	if _, err := out.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		return fmt.Errorf("%w: it does not start with %q (%s)", ErrFormat, want, f)
	}
	return nil
}

// syncDir makes a new file's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
