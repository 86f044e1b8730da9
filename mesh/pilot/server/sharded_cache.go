package server

import (
	"context"
	"hash/maphash"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
)

// cacheShards is how many snapshot caches the nodes are spread over. go-control-plane's snapshot
// cache guards every node with one mutex, write-locked on every watch a stream opens; with a
// thousand proxies ACKing a push, that lock was the push's bottleneck (measured with the
// benchmark's mutex profile). Nodes never share state, so sharding them by ID is safe.
const cacheShards = 16

// shardedCache is a cachev3.Cache over independent ADS snapshot caches, one node in exactly one.
type shardedCache struct {
	seed   maphash.Seed
	shards [cacheShards]cachev3.SnapshotCache
}

var _ cachev3.Cache = (*shardedCache)(nil)

func newShardedCache(logger log.Logger) *shardedCache {
	c := &shardedCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i] = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, logger)
	}
	return c
}

func (c *shardedCache) shard(node string) cachev3.SnapshotCache {
	return c.shards[maphash.String(c.seed, node)%cacheShards]
}

func (c *shardedCache) CreateWatch(r *cachev3.Request, s cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	return c.shard(r.GetNode().GetId()).CreateWatch(r, s, ch)
}

func (c *shardedCache) CreateDeltaWatch(r *cachev3.DeltaRequest, s cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	return c.shard(r.GetNode().GetId()).CreateDeltaWatch(r, s, ch)
}

func (c *shardedCache) Fetch(ctx context.Context, r *cachev3.Request) (cachev3.Response, error) {
	return c.shard(r.GetNode().GetId()).Fetch(ctx, r)
}

func (c *shardedCache) SetSnapshot(ctx context.Context, node string, s cachev3.ResourceSnapshot) error {
	return c.shard(node).SetSnapshot(ctx, node, s)
}

func (c *shardedCache) ClearSnapshot(node string) { c.shard(node).ClearSnapshot(node) }
