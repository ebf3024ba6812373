#!/bin/sh
# grid_budget.sh: the best grid configuration under TTFT budgets, from `elms grid` data files
# (columns: level ratio accuracy correct total param_fraction kept_fraction).
# With the paper's accounting (relative TTFT = m * p), for each budget B it prints the best cell with m*p <= B,
# the best that shrinks only the model (p = 1) and the best that compresses only the prompt (m = 1), so one can
# see whether an app prefers a large model on a compressed prompt or a small model on the whole prompt.
#   sh analysis/grid_budget.sh results/figures/grid_base-elastic_*_random.dat
[ $# -ge 1 ] || { echo "usage: sh analysis/grid_budget.sh GRID.dat..." >&2; exit 2; }
for f in "$@"; do
  [ -r "$f" ] || { echo "grid_budget: cannot read $f" >&2; exit 1; }
  awk -v name="$f" '
    /^#/ || NF < 3 { next }
    { n++; m[n] = $1; p[n] = $2; a[n] = $3 }
    END {
      printf "%s\n", name
      printf "  %-6s  %-22s  %-22s  %-22s\n", "budget", "best (m, p) acc", "model only (m, 1) acc", "prompt only (1, p) acc"
      split("0.1 0.2 0.3 0.4 0.5 0.6 0.8 1.0", B, " ")
      for (k = 1; k <= 8; k++) {
        b = B[k] + 1e-9; bi = bm = bp = 0
        for (i = 1; i <= n; i++) {
          if (m[i] * p[i] > b) continue
          # ties: the larger model, then the longer prompt
          if (!bi || a[i] > a[bi] || (a[i] == a[bi] && (m[i] > m[bi] || (m[i] == m[bi] && p[i] > p[bi])))) bi = i
          if (p[i] == 1.0 && (!bm || a[i] > a[bm] || (a[i] == a[bm] && m[i] > m[bm]))) bm = i
          if (m[i] == 1.0 && (!bp || a[i] > a[bp] || (a[i] == a[bp] && p[i] > p[bp]))) bp = i
        }
        s1 = bi ? sprintf("(%.1f, %.1f) %.3f", m[bi], p[bi], a[bi]) : "-"
        s2 = bm ? sprintf("(%.1f, 1.0) %.3f", m[bm], a[bm]) : "-"
        s3 = bp ? sprintf("(1.0, %.1f) %.3f", p[bp], a[bp]) : "-"
        printf "  %-6.1f  %-22s  %-22s  %-22s\n", B[k], s1, s2, s3
      }
    }' "$f"
done
