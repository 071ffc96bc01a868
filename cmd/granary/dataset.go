package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/schema"
)

func (a *app) datasetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Create, list and show datasets",
	}
	var schemaFile string
	create := &cobra.Command{
		Use:   "create --schema FILE",
		Short: "Create a dataset from a schema file",
		Long: `Create a dataset from a YAML schema file:

  group: my_org
  code_name: measurements
  name: Measurements
  kind: temporal            # or spatiotemporal (adds a geometry field)
  fields:
    - {name: value, type: float64, description: A numeric measurement}
    - {name: sensor, type: string}
    - {name: precise_time, type: timestamp}
    - {name: sensor_history, type: float64, array: true}

Types: string, int64, uint64, float64, bool, bytes, duration, timestamp,
uuid, geometry, vec3, quaternion, latlon, latlonalt; each may be an array.
Every datapoint also has time, id and ingestion_time.`,
		Example: `  granary dataset create --schema examples/measurements.yaml`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if schemaFile == "" {
				return usagef("dataset create needs --schema FILE")
			}
			s, err := schema.ReadFile(schemaFile)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ds, err := c.Datasets.Create(cmd.Context(), s)
			if err != nil {
				return err
			}
			return a.printDataset(ds)
		},
	}
	create.Flags().StringVar(&schemaFile, "schema", "", "schema file (YAML)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List datasets",
		Example: `  granary dataset list`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			all, err := c.Datasets.List(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				enc := json.NewEncoder(a.stdout)
				for _, ds := range all {
					if err := enc.Encode(datasetJSON(ds)); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLUG\tKIND\tFIELDS\tCOLLECTIONS\tNAME")
			for _, ds := range all {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", ds.Slug, ds.Schema.Kind, len(ds.Schema.Fields), len(ds.Collections), ds.Name)
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use:     "show SLUG",
		Short:   "Show a dataset's schema and collections",
		Example: `  granary dataset show my_org.measurements`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ds, err := c.Datasets.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if ds.Collections, err = c.Collections.List(cmd.Context(), ds.ID); err != nil {
				return err
			}
			return a.printDataset(ds)
		},
	}
	cmd.AddCommand(create, list, show)
	return cmd
}

type fieldJSON struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Array       bool   `json:"array,omitempty"`
	Number      int32  `json:"number"`
	Description string `json:"description,omitempty"`
}

func datasetJSON(ds *datasets.Dataset) map[string]any {
	fields := make([]fieldJSON, len(ds.Schema.Fields))
	for i, f := range ds.Schema.Fields {
		fields[i] = fieldJSON{Name: f.Name, Type: f.Type.String(), Array: f.Array, Number: f.Number, Description: f.Description}
	}
	cols := make([]map[string]any, len(ds.Collections))
	for i, c := range ds.Collections {
		cols[i] = collectionJSON(c)
	}
	return map[string]any{"id": ds.ID.String(), "slug": ds.Slug, "name": ds.Name, "summary": ds.Summary,
		"kind": ds.Schema.Kind.String(), "type_url": ds.Schema.TypeURL(), "fields": fields, "collections": cols}
}

func (a *app) printDataset(ds *datasets.Dataset) error {
	if a.json {
		return json.NewEncoder(a.stdout).Encode(datasetJSON(ds))
	}
	fmt.Fprintf(a.stdout, "Dataset %s (%s)\n  id:   %s\n  kind: %s\n  type: %s\n", ds.Slug, ds.Name, ds.ID, ds.Schema.Kind, ds.Schema.TypeURL())
	if ds.Summary != "" {
		fmt.Fprintf(a.stdout, "  summary: %s\n", ds.Summary)
	}
	fmt.Fprintln(a.stdout, "Fields:")
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, f := range ds.Schema.Fields {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", f.Number, f.Name, f.TypeString(), f.Description)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ds.Collections) > 0 {
		fmt.Fprintln(a.stdout, "Collections:")
		return a.printCollections(ds.Collections, "  ")
	}
	return nil
}
