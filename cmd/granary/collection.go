package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/datasets"
)

func (a *app) collectionCommand() *cobra.Command {
	var slug string
	cmd := &cobra.Command{
		Use:   "collection",
		Short: "Create, list, inspect and delete a dataset's collections",
	}
	cmd.PersistentFlags().StringVar(&slug, "dataset", "", "dataset slug, e.g. my_org.measurements")
	withDataset := func(run func(cmd *cobra.Command, c *datasets.Client, ds *datasets.Dataset, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if slug == "" {
				return usagef("%s needs --dataset SLUG", cmd.CommandPath())
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ds, err := c.Datasets.Get(cmd.Context(), slug)
			if err != nil {
				return err
			}
			return run(cmd, c, ds, args)
		}
	}
	create := &cobra.Command{
		Use:     "create --dataset SLUG NAME",
		Short:   "Create a collection",
		Example: `  granary collection create --dataset my_org.measurements 2024`,
		Args:    exactArgs(1),
		RunE: withDataset(func(cmd *cobra.Command, c *datasets.Client, ds *datasets.Dataset, args []string) error {
			col, err := c.Collections.Create(cmd.Context(), ds.ID, args[0])
			if err != nil {
				return err
			}
			return a.printCollections([]*datasets.Collection{col}, "")
		}),
	}
	list := &cobra.Command{
		Use:     "list --dataset SLUG",
		Short:   "List a dataset's collections with counts and time spans",
		Example: `  granary collection list --dataset my_org.measurements`,
		Args:    exactArgs(0),
		RunE: withDataset(func(cmd *cobra.Command, c *datasets.Client, ds *datasets.Dataset, _ []string) error {
			cols, err := c.Collections.List(cmd.Context(), ds.ID)
			if err != nil {
				return err
			}
			return a.printCollections(cols, "")
		}),
	}
	info := &cobra.Command{
		Use:     "info --dataset SLUG NAME",
		Short:   "Show a collection's id, count and availability (first and last time)",
		Example: `  granary collection info --dataset my_org.measurements 2024`,
		Args:    exactArgs(1),
		RunE: withDataset(func(cmd *cobra.Command, c *datasets.Client, ds *datasets.Dataset, args []string) error {
			col, err := c.Collections.Get(cmd.Context(), ds.ID, args[0])
			if err != nil {
				return err
			}
			return a.printCollections([]*datasets.Collection{col}, "")
		}),
	}
	del := &cobra.Command{
		Use:     "delete --dataset SLUG NAME",
		Short:   "Delete a collection and all its datapoints",
		Example: `  granary collection delete --dataset my_org.measurements 2024`,
		Args:    exactArgs(1),
		RunE: withDataset(func(cmd *cobra.Command, c *datasets.Client, ds *datasets.Dataset, args []string) error {
			col, err := c.Collections.Get(cmd.Context(), ds.ID, args[0])
			if err != nil {
				return err
			}
			if err := c.Collections.Delete(cmd.Context(), ds.ID, col.ID); err != nil {
				return err
			}
			if a.json {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"deleted": col.Name, "datapoints": col.Count})
			}
			fmt.Fprintf(a.stdout, "deleted collection %s with %d datapoint(s)\n", col.Name, col.Count)
			return nil
		}),
	}
	cmd.AddCommand(create, list, info, del)
	return cmd
}

func collectionJSON(c *datasets.Collection) map[string]any {
	m := map[string]any{"id": c.ID.String(), "name": c.Name, "count": c.Count}
	if c.Count > 0 {
		m["first"] = c.Availability.Start.UTC().Format(time.RFC3339Nano)
		m["last"] = c.Availability.End.UTC().Format(time.RFC3339Nano)
	}
	return m
}

func (a *app) printCollections(cols []*datasets.Collection, indent string) error {
	if a.json {
		enc := json.NewEncoder(a.stdout)
		for _, c := range cols {
			if err := enc.Encode(collectionJSON(c)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%sNAME\tID\tCOUNT\tFIRST\tLAST\n", indent)
	for _, c := range cols {
		first, last := "-", "-"
		if c.Count > 0 {
			first = c.Availability.Start.UTC().Format(time.RFC3339Nano)
			last = c.Availability.End.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\n", indent, c.Name, c.ID, c.Count, first, last)
	}
	return tw.Flush()
}
