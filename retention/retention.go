// Package retention deletes what server mode keeps no longer: artifacts
// past their tenant's retention, the blobs of catalog rows that are gone
// (deleted by the API, evicted, or taken away with their run, pipeline or
// tenant), and webhook deliveries older than DeliveryRetention.
//
// Order: the row goes first, and its blob is queued in the same
// transaction (a trigger on the artifacts and caches tables writes the
// queue, db's blob_deletions); the blob is deleted afterwards, and its
// queue entry only once the blob store confirmed it (or had no such blob).
// A blob delete that fails stays queued, is logged and is tried again on
// the next sweep. So no row ever names a blob that was deleted, and no
// blob is forgotten; a blob may outlive its row by a sweep or more.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/db"
)

// DefaultEvery is how often `buildit server` sweeps (--artifact-sweep-every).
const DefaultEvery = time.Hour

// Batch bounds the rows one statement of a sweep deletes, and the blobs it
// deletes between two reads of the queue.
const Batch = 500

// maxBatches bounds one sweep: at most maxBatches×Batch expired rows and
// as many blobs; the rest waits for the next sweep.
const maxBatches = 100

// DeliveryRetention is how long a webhook delivery is remembered, so that
// a redelivery of it starts nothing: forges redeliver within days
// (GitHub lets a person redeliver within 3), not later.
const DeliveryRetention = 7 * 24 * time.Hour

// Result is what one sweep did.
type Result struct {
	// Expired counts the artifact records deleted for their age.
	Expired int
	// Deleted counts the blobs deleted (or found gone already); Failed
	// those whose delete failed and stays queued.
	Deleted, Failed int
	// Deliveries counts the webhook deliveries forgotten.
	Deliveries int64
}

// Sweep deletes the webhook deliveries older than DeliveryRetention at
// now, the artifact records expired at now, then the queued blobs, in
// bounded batches. An error is the database's; blob store failures are
// counted in Failed and logged.
func Sweep(ctx context.Context, store *db.Store, blobs *blobstore.Store, log *slog.Logger, now time.Time) (Result, error) {
	var res Result
	var err error
	if res.Deliveries, err = store.Repositories().PruneDeliveries(ctx, now.Add(-DeliveryRetention)); err != nil {
		return res, err
	}
	repo := store.Artifacts()
	for range maxBatches {
		n, err := repo.DeleteExpired(ctx, now, Batch)
		res.Expired += n
		if err != nil {
			return res, err
		}
		if n < Batch {
			break
		}
	}
	// Entries that fail are retried on the next sweep, not in this one:
	// the queue is read from its oldest, so stop when a batch made no
	// progress.
	for range maxBatches {
		queue, err := repo.BlobDeletions(ctx, Batch)
		if err != nil {
			return res, err
		}
		progress := false
		for _, d := range queue {
			err := blobs.Delete(ctx, d.BlobKey)
			if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				res.Failed++
				log.Warn("deleting a blob failed; retrying on the next sweep", "tenant", d.TenantID, "key", d.BlobKey, "attempts", d.Attempts+1, "error", err)
				if err := repo.BlobDeleteFailed(ctx, d, err.Error()); err != nil {
					return res, err
				}
				continue
			}
			if err := repo.BlobDeleted(ctx, d); err != nil {
				return res, err
			}
			res.Deleted++
			progress = true
		}
		if len(queue) < Batch || !progress {
			break
		}
	}
	return res, nil
}

// Run sweeps every `every` until ctx ends, logging what each sweep did and
// its errors.
func Run(ctx context.Context, store *db.Store, blobs *blobstore.Store, log *slog.Logger, every time.Duration) {
	if every <= 0 {
		every = DefaultEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := Sweep(ctx, store, blobs, log, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("retention sweep failed", "error", err, "expired", res.Expired, "blobs_deleted", res.Deleted, "deliveries_pruned", res.Deliveries)
		case res != Result{}:
			log.Info("retention sweep", "expired", res.Expired, "blobs_deleted", res.Deleted, "blob_deletes_failed", res.Failed, "deliveries_pruned", res.Deliveries)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
