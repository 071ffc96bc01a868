package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/schema"
)

func (a *app) schemaCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "schema", Short: "Work with schema files"}
	var group, codeName string
	infer := &cobra.Command{
		Use:   "infer FILE",
		Short: "Propose a schema file for the columns of a data file",
		Long: `Read the first rows of FILE (CSV, Parquet, GeoParquet, Feather or Arrow IPC)
and print a schema file (YAML) for it: column types mapped to field types, a
time column picked, kind spatiotemporal when a geometry column is found. When
no column is clearly the time, the error lists the candidates: rename one to
time or pass --map COLUMN=time to ingest. Columns whose names are not
snake_case become snake_case fields; the comment at the top says which
--map flags ingest then needs.`,
		Example: `  granary schema infer granules.parquet > granules.yaml
  granary dataset create --schema granules.yaml`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if codeName == "" {
				codeName = codeNameOf(file)
			}
			src, err := ingest.Open(file)
			if err != nil {
				return err
			}
			defer src.Close()
			var flags []string
			ds, mapping, err := ingest.InferSchemaMapping(src, codeName, ingest.WithoutTimeColumn(),
				ingest.WithIngestFlags(func(f string) { flags = append(flags, f) }))
			if err != nil {
				return err
			}
			ds.Group = group
			out, err := schema.Marshal(ds)
			if err != nil {
				return err
			}
			var notes []string
			srcs := make([]string, 0, len(mapping.Rename))
			for s := range mapping.Rename {
				srcs = append(srcs, s)
			}
			sort.Strings(srcs)
			for _, s := range srcs {
				notes = append(notes, "--map "+shellQuote(s+"="+mapping.Rename[s]))
			}
			for _, d := range mapping.Drop {
				notes = append(notes, "--drop "+shellQuote(d))
			}
			notes = append(notes, flags...)
			if roundsDecimals(src.Schema(), ds, mapping) {
				notes = append(notes, "--round-floats")
			}
			noTime := !timeMapped(src.Schema(), mapping)
			if noTime {
				notes = append(notes, "--set time=VALUE")
			}
			fmt.Fprintf(a.stdout, "# Proposed by granary schema infer from %s.\n", filepath.Base(file))
			if noTime {
				fmt.Fprintf(a.stdout, "# The file has no time column: give every row one time with --set time=VALUE\n# (e.g. --set time=2024-01-01T00:00:00Z), or add a column of times.\n")
			}
			if len(notes) > 0 {
				fmt.Fprintf(a.stdout, "# Ingest it with: %s\n", strings.Join(notes, " "))
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	infer.Flags().StringVar(&group, "group", "my_org", "group of the proposed dataset")
	infer.Flags().StringVar(&codeName, "code-name", "", "code name of the proposed dataset (default: from the file name)")
	cmd.AddCommand(infer)
	return cmd
}

// codeNameOf makes a snake_case code name from a file name.
func codeNameOf(path string) string {
	base := filepath.Base(path)
	for ext := filepath.Ext(base); ext != ""; ext = filepath.Ext(base) {
		base = strings.TrimSuffix(base, ext)
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), "_")
	if s == "" || !unicode.IsLetter(rune(s[0])) {
		s = "dataset_" + s
	}
	return strings.TrimSuffix(s, "_")
}

// roundsDecimals reports whether a decimal column with a fractional part
// maps onto a float64 field of ds: its values (19.99) are not exactly
// float64, so ingest refuses them unless --round-floats.
func roundsDecimals(sc *arrow.Schema, ds *schema.Dataset, m ingest.Mapping) bool {
	for _, f := range sc.Fields() {
		d, ok := f.Type.(arrow.DecimalType)
		if !ok || d.GetScale() == 0 {
			continue
		}
		name := f.Name
		if to, ok := m.Rename[name]; ok {
			name = to
		}
		if df, ok := ds.Field(name); ok && df.Type == schema.Float64 {
			return true
		}
	}
	return false
}

// timeMapped reports whether a column of sc reaches the time field under m.
func timeMapped(sc *arrow.Schema, m ingest.Mapping) bool {
	for _, f := range sc.Fields() {
		if slices.Contains(m.Drop, f.Name) {
			continue
		}
		name := f.Name
		if to, ok := m.Rename[name]; ok {
			name = to
		}
		if strings.EqualFold(strings.TrimSpace(name), schema.FieldTime) {
			return true
		}
	}
	return false
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_.,:=@%+/ (a column name with spaces, say), so that
// the hint can be pasted.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_.,:=@%+/", r)))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
