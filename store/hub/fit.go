package hub

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/lmx-app/lmx/store/library"
)

// maxConfigBytes bounds a config.json read from the Hub.
const maxConfigBytes = 4 << 20

// ReadConfig fetches config.json of repo at revision (a small, non-LFS
// file) without storing it.
func (c *Client) ReadConfig(ctx context.Context, repo, revision string) ([]byte, error) {
	if err := library.ValidateRepoID(repo); err != nil {
		return nil, err
	}
	if err := library.ValidateRevision(revision); err != nil {
		return nil, err
	}
	u := fmt.Sprintf("%s/%s/resolve/%s/config.json", c.Endpoint, repo, url.PathEscape(revision))
	resp, err := c.get(ctx, u, repo)
	if err != nil {
		return nil, fmt.Errorf("read config.json: %w", err)
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxConfigBytes))
	if err != nil {
		return nil, fmt.Errorf("read config.json of %s: %w", repo, err)
	}
	return buf, nil
}
