package fixstream

import "testing"

func TestSubjects(t *testing.T) {
	if LocationSubject("d-1") != "rtls.loc.d-1" || LiveSubject("d-1") != "rtls.live.d-1" {
		t.Fatal(LocationSubject("d-1"), LiveSubject("d-1"))
	}
	for subj, want := range map[string]string{"rtls.loc.d-1": "d-1", "rtls.live.d_2": "d_2", "rtls.loc.": "", "other.d-1": "", "": "", "rtls.loc.a.b": "", "rtls.live.*": ""} {
		if got := DriverOf(subj); got != want {
			t.Errorf("DriverOf(%q) = %q, want %q", subj, got, want)
		}
	}
}
