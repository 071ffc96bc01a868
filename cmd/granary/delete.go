package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

func (a *app) deleteCommand() *cobra.Command {
	var (
		slug, collection, idsFile string
		ids                       []string
	)
	cmd := &cobra.Command{
		Use:   "delete --dataset SLUG --collection NAME (--id UUID... | --ids-file FILE)",
		Short: "Delete datapoints by ID",
		Long: `Delete datapoints by ID. Each call of up to 8192 IDs is all-or-nothing: if any
ID of it is not in the collection, nothing of it is deleted and the error
names the ID. --ids-file reads one UUID per line (blank lines and lines
starting with # are skipped).`,
		Example: `  granary delete --dataset my_org.measurements --collection 2024 --id 018cc251-f400-4f5e-9a4e-3ad5b3c2a8a1
  granary delete --dataset my_org.measurements --collection 2024 --ids-file ids.txt`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if slug == "" || collection == "" {
				return usagef("delete needs --dataset SLUG and --collection NAME")
			}
			if (len(ids) == 0) == (idsFile == "") {
				return usagef("delete needs either --id UUID (repeatable) or --ids-file FILE")
			}
			list, err := parseUUIDs(ids)
			if err != nil {
				return usagef("--id: %v", err)
			}
			if idsFile != "" {
				if list, err = readIDsFile(idsFile); err != nil {
					return err
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			ds, err := c.Datasets.Get(ctx, slug)
			if err != nil {
				return err
			}
			col, err := c.Collections.Get(ctx, ds.ID, collection)
			if err != nil {
				return err
			}
			n, err := c.Datapoints.DeleteIDs(ctx, col.ID, list)
			if err != nil {
				if n > 0 {
					return fmt.Errorf("%w (%d datapoint(s) of earlier calls were deleted)", err, n)
				}
				return err
			}
			if a.json {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"deleted": n})
			}
			fmt.Fprintf(a.stdout, "deleted %d datapoint(s) from %s/%s\n", n, ds.Slug, col.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "dataset", "", "dataset slug")
	f.StringVar(&collection, "collection", "", "collection name")
	f.StringArrayVar(&ids, "id", nil, "datapoint ID (repeatable)")
	f.StringVar(&idsFile, "ids-file", "", "file with one datapoint ID per line")
	return cmd
}

func readIDsFile(path string) ([]uuid.UUID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []uuid.UUID
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		u, err := uuid.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a UUID", path, line, s)
		}
		out = append(out, u)
	}
	return out, sc.Err()
}
