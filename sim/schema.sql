-- elms results database (SQLite, WAL). One row per simulator run and policy, one row per request replayed,
-- a cache of engine evaluations shared by every run, and latency calibration points.
-- Times are milliseconds unless a column says otherwise; NULL means "not applicable".
-- Schema version 5 (PRAGMA user_version, set by sim/db.c): the columns marked v2 were added to version 1, the one
-- marked v3 to version 2, those marked v4 to version 3, the one marked v5 to version 4; elms migrates databases
-- of any of them when it opens them
-- (docs/database.md).

CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created     TEXT NOT NULL,              -- UTC, ISO 8601
    git_rev     TEXT,                       -- revision of the code that produced the run
    command     TEXT NOT NULL,              -- the command line
    seed        INTEGER NOT NULL,
    policy      TEXT NOT NULL,
    compressor  TEXT,
    trace       TEXT NOT NULL,
    profile     TEXT NOT NULL,
    model       TEXT NOT NULL,
    model_hash  TEXT NOT NULL,
    scheduler   TEXT NOT NULL,              -- fcfs or edf
    n_requests  INTEGER NOT NULL,           -- requests in the trace
    complete    INTEGER NOT NULL DEFAULT 0, -- 1 once every request is recorded; 0 = running or interrupted
    finished    TEXT,
    accuracy    REAL,                       -- summary, filled when complete
    slo_met     REAL,
    ttft_p50_ms REAL,
    ttft_p99_ms REAL,
    memory_bytes REAL,
    attained    REAL,                       -- v2: correct and SLO met, over requests with an item
    ttft_overhead_mean REAL,                -- v2: (tlm + switch) / ttft per request, mean
    ttft_overhead_p99  REAL,                -- v2: ... and 99th percentile
    prompt_ratio REAL,                      -- v2: kept / full prompt tokens per request, mean
    target_ratio REAL,                      -- v2: the decisions' ratio label, mean
    prepare_cpu_min REAL,                   -- v2: the policy's preparation (prepare.json), CPU min
    trace_hash  TEXT,                       -- v2: FNV-1a 64 of the trace file
    shard_index INTEGER NOT NULL DEFAULT 1, -- v2: the run replays the trace's requests k (0-based trace order)
    shard_count INTEGER NOT NULL DEFAULT 1, -- v2: with k mod shard_count = shard_index - 1
    policy_hash TEXT,                       -- v3: FNV-1a 64 of the prepare.json of the artefacts it read (NULL: none)
    live        INTEGER NOT NULL DEFAULT 0, -- v4: 1 = served by the real engine (elms sim --live): times measured
    profile_hash TEXT                       -- v5: FNV-1a 64 of the profile's JSON (NULL: recorded before v5)
);

CREATE TABLE IF NOT EXISTS requests (
    run           INTEGER NOT NULL REFERENCES runs(id),
    request       INTEGER NOT NULL,         -- id in the trace
    app           TEXT NOT NULL,
    item          TEXT,                     -- NULL for requests without an item
    arrival_ms    REAL NOT NULL,
    slo_ttft_ms   REAL NOT NULL,
    slo_tpot_ms   REAL NOT NULL,
    level         REAL NOT NULL,            -- chosen model level (label)
    ratio         REAL NOT NULL,            -- chosen prompt ratio (label)
    prompt_tokens INTEGER NOT NULL,
    kept_tokens   INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    queue_ms      REAL NOT NULL,
    tlm_ms        REAL NOT NULL,
    switch_ms     REAL NOT NULL,
    prefill_ms    REAL NOT NULL,
    decode_ms     REAL NOT NULL,            -- all generated tokens after the first
    ttft_ms       REAL NOT NULL,            -- queue + tlm + switch + prefill
    tpot_ms       REAL NOT NULL,
    ttft_met      INTEGER NOT NULL,
    tpot_met      INTEGER NOT NULL,
    slo_met       INTEGER NOT NULL,
    choice        INTEGER,
    correct       INTEGER,                  -- NULL for requests without an item
    memory_bytes  REAL NOT NULL,
    attained      INTEGER,                  -- v2: correct AND slo_met (NULL for requests without an item)
    pred_queue_ms   REAL,                   -- v4, live runs: the simulator's prediction for the same decisions
    pred_tlm_ms     REAL,                   -- v4 (queue: FCFS of the predicted service times in the live order)
    pred_switch_ms  REAL,                   -- v4
    pred_prefill_ms REAL,                   -- v4
    pred_tpot_ms    REAL,                   -- v4; all NULL in simulated runs
    PRIMARY KEY (run, request)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS evals (
    model_hash TEXT NOT NULL,               -- weights (and adapter) the engine ran
    config     TEXT NOT NULL,               -- the view and prompt keep-mask
    app        TEXT NOT NULL,
    item       TEXT NOT NULL,
    choice     INTEGER NOT NULL,
    correct    INTEGER NOT NULL,
    margin     REAL NOT NULL,               -- log-likelihood margin of the chosen choice
    PRIMARY KEY (model_hash, config, app, item)
);

CREATE TABLE IF NOT EXISTS calibration (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    created      TEXT NOT NULL,
    profile      TEXT NOT NULL,
    model        TEXT NOT NULL,
    phase        TEXT NOT NULL,             -- prefill, decode, warmup, tlm or switch
    level        REAL,
    tokens       INTEGER,                   -- prompt tokens (prefill, tlm) or context (decode)
    measured_ms  REAL NOT NULL,
    predicted_ms REAL
);
