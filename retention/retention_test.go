package retention_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/db/secretbox"
	"github.com/buildit-ci/buildit/retention"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// Sweep deletes expired artifacts' rows, then their blobs; a blob whose
// delete fails stays queued and is deleted by a later sweep, and a blob of
// an artifact not expired is left alone.
func TestSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := db.NewStore(dbtest.Pool(t), nil)
	dir := t.TempDir()
	blobs, err := blobstore.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	o, err := store.Organizations().Create(ctx, db.NewOrganization{Slug: "o-" + uuid.NewString()[:8], Name: "O"})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := store.Tenants().Create(ctx, o.ID, db.NewTenant{Slug: "t-" + uuid.NewString()[:8], Name: "T"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Pipelines().Create(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: `pipeline "app"`})
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string) db.Artifact {
		t.Helper()
		key := fmt.Sprintf("%s/artifacts/%s/%s.tar.zst", tn.ID, run.ID, name)
		obj, err := blobs.Put(ctx, key, strings.NewReader("contents of "+name))
		if err != nil {
			t.Fatal(err)
		}
		a, err := store.Artifacts().PutArtifact(ctx, tn.ID, db.NewArtifact{Run: run.ID.String(), StageID: "build", Name: name, BlobKey: key, Size: obj.Size, Digest: obj.Digest, Files: 1})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ok, stuck := put("ok"), put("stuck")
	// A blob the store cannot delete: its file made a folder with
	// something in it.
	stuckPath := filepath.Join(dir, filepath.FromSlash(stuck.BlobKey))
	if err := os.Remove(stuckPath); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(stuckPath, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	res, err := retention.Sweep(ctx, store, blobs, log, time.Now())
	if err != nil || res.Expired != 0 {
		t.Fatalf("sweep before expiry: %+v, %v", res, err)
	}
	if _, err := blobs.Stat(ctx, ok.BlobKey); err != nil {
		t.Fatalf("an unexpired artifact's blob is gone: %v", err)
	}

	later := ok.ExpiresAt.Add(time.Minute)
	res, err = retention.Sweep(ctx, store, blobs, log, later)
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != 2 || res.Deleted != 1 || res.Failed != 1 {
		t.Errorf("sweep after expiry: %+v, want 2 expired, 1 blob deleted, 1 failed", res)
	}
	if _, err := blobs.Stat(ctx, ok.BlobKey); err == nil {
		t.Error("the expired artifact's blob is still there")
	}
	if as, _ := store.Artifacts().ListArtifacts(ctx, tn.ID, run.ID.String()); len(as) != 0 {
		t.Errorf("expired rows kept: %+v", as)
	}

	// Once the store can delete it, the next sweep does.
	if err := os.RemoveAll(filepath.Join(stuckPath, "x")); err != nil {
		t.Fatal(err)
	}
	res, err = retention.Sweep(ctx, store, blobs, log, later)
	if err != nil || res.Deleted != 1 || res.Failed != 0 {
		t.Errorf("the next sweep: %+v, %v; want the stuck blob deleted", res, err)
	}
	if q, _ := store.Artifacts().BlobDeletions(ctx, 100); len(q) != 0 {
		t.Errorf("queue after the sweeps: %+v", q)
	}
}

// Sweep forgets the webhook deliveries older than DeliveryRetention, and
// keeps the younger ones (whose redeliveries must still start nothing).
func TestSweepPrunesDeliveries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	box, err := secretbox.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	store := db.NewStore(dbtest.Pool(t), box)
	blobs, err := blobstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	o, err := store.Organizations().Create(ctx, db.NewOrganization{Slug: "o-" + uuid.NewString()[:8], Name: "O"})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := store.Tenants().Create(ctx, o.ID, db.NewTenant{Slug: "t-" + uuid.NewString()[:8], Name: "T"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.Repositories().Create(ctx, tn.ID, db.NewRepository{Forge: "gitea", URL: "https://gitea.example/acme/app", TokenSecret: "T", WebhookSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	taken, err := store.Repositories().TakeDeliveries(ctx, []db.NewDelivery{
		{RepositoryID: r.ID, Delivery: "old", Input: []byte("{}")}, {RepositoryID: r.ID, Delivery: "young", Input: []byte("{}")},
	})
	if err != nil || len(taken) != 2 || !taken[0] || !taken[1] {
		t.Fatalf("take: %v %v", taken, err)
	}
	if _, err := store.Pool().Exec(ctx, "UPDATE webhook_deliveries SET received_at = now() - interval '8 days' WHERE delivery_id = 'old'"); err != nil {
		t.Fatal(err)
	}
	res, err := retention.Sweep(ctx, store, blobs, slog.New(slog.DiscardHandler), time.Now())
	if err != nil || res.Deliveries != 1 {
		t.Fatalf("sweep: %+v %v; want 1 delivery pruned", res, err)
	}
	again, err := store.Repositories().TakeDeliveries(ctx, []db.NewDelivery{
		{RepositoryID: r.ID, Delivery: "old", Input: []byte("{}")}, {RepositoryID: r.ID, Delivery: "young", Input: []byte("{}")},
	})
	if err != nil || len(again) != 2 || !again[0] || again[1] {
		t.Errorf("after the sweep, old is forgotten and young is not: %v %v", again, err)
	}
}
