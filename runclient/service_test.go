package runclient

import (
	"errors"
	"slices"
	"testing"

	"github.com/buildit-ci/buildit/pipeline"
)

func TestContainerize(t *testing.T) {
	plan := func() *pipeline.Plan {
		return &pipeline.Plan{Steps: []pipeline.Step{
			{ID: "build", Stage: "build", Kind: pipeline.KindRun},
			{ID: "test [go=1.25]", Stage: "test", Kind: pipeline.KindRun},
			{ID: "test [go=1.26]", Stage: "test", Kind: pipeline.KindRun},
			{ID: "lint", Stage: "lint", Kind: pipeline.KindRun, Image: "golangci/golangci-lint:v2"},
			{ID: "gate", Stage: "gate", Kind: pipeline.KindApproval},
			{ID: "ship", Stage: "ship", Kind: pipeline.KindDeploy},
		}}
	}
	var hs *HostStagesError
	err := (&Service{}).containerize(plan())
	if !errors.As(err, &hs) || !slices.Equal(hs.Stages, []string{"build", "test"}) ||
		err.Error() != "stages build, test have no image, and this server runs stages only in containers: set `image` on them or in `defaults`" {
		t.Errorf("no default image: %v", err)
	}
	one := &pipeline.Plan{Steps: plan().Steps[:1]}
	if err := (&Service{}).containerize(one); err == nil || err.Error() != "stage build has no image, and this server runs stages only in containers: set `image` on it or in `defaults`" {
		t.Errorf("one stage: %v", err)
	}

	p := plan()
	if err := (&Service{DefaultImage: "debian:bookworm"}).containerize(p); err != nil {
		t.Fatal(err)
	}
	want := []string{"debian:bookworm", "debian:bookworm", "debian:bookworm", "golangci/golangci-lint:v2", "", ""}
	for i, st := range p.Steps {
		if st.Image != want[i] {
			t.Errorf("%s: image %q, want %q", st.ID, st.Image, want[i])
		}
	}

	p = plan()
	if err := (&Service{AllowHostStages: true}).containerize(p); err != nil || p.Steps[0].Image != "" {
		t.Errorf("host stages allowed: %v, image %q", err, p.Steps[0].Image)
	}
}
