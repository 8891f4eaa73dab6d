/* Every runtime setting of the omega program, declared once (an X-macro list: data only, no
 * include guard). Each includer defines the four row macros, includes this file and undefines
 * them; config.h makes the fields of omega_settings_t and the setting indices of it,
 * config_table.c the rows of omega__cfg_table, and `omega config --markdown` (through
 * tools/update-readme-settings.sh) the README's table.
 *
 *   OMEGA_SETTING_INT(NAME, field, default, min, max, flags, help)     long long field
 *   OMEGA_SETTING_REAL(NAME, field, default, min, max, flags, help)    double field
 *   OMEGA_SETTING_BOOL(NAME, field, default, flags, help)              bool field; true or false
 *   OMEGA_SETTING_ENUM(NAME, field, type, default, names, flags, help) enum type field; default
 *     is its name, names the NULL-terminated array of the enum's names (the one list of them)
 *   OMEGA_SETTING_STRING(NAME, field, size, default, flags, help)      char field[size]
 *
 * NAME is also the environment variable and the config-file key; field is its lower case.
 * Integer defaults are plain numbers (shown as text); the engine's come from the
 * OMEGA_ENGINE_* macros of omega/engine.h, so the library and the table cannot disagree. */

/* accelerator and engine */
OMEGA_SETTING_ENUM(OMEGA_ACCEL, omega_accel, omega_accel_mode_t, "auto", omega_accel_mode_names, 0,
    "Device choice: auto (GPU when usable, else CPU), gpu (fail at start-up without a GPU), cpu (never touch CUDA)")
OMEGA_SETTING_BOOL(EMBED_PREFER_GPU, embed_prefer_gpu, true, OMEGA_CFG_HOT,
    "Route batches to the GPU when one is usable (false: CPU first)")
OMEGA_SETTING_INT(EMBED_GPU_SLOTS, embed_gpu_slots, OMEGA_ENGINE_GPU_SLOTS_DEFAULT, OMEGA_ENGINE_GPU_SLOTS_MIN,
    OMEGA_ENGINE_GPU_SLOTS_MAX, OMEGA_CFG_HOT,
    "Batches in flight on the GPU at once (CUDA streams)")
OMEGA_SETTING_INT(EMBED_MAX_BATCH, embed_max_batch, OMEGA_ENGINE_MAX_BATCH_DEFAULT, OMEGA_ENGINE_MAX_BATCH_MIN,
    OMEGA_ENGINE_MAX_BATCH_MAX, OMEGA_CFG_HOT,
    "Upper bound of sequences per batch; the adaptive ceiling moves below it")
OMEGA_SETTING_INT(EMBED_MAX_BATCH_TOKENS, embed_max_batch_tokens, OMEGA_ENGINE_MAX_BATCH_TOKENS_DEFAULT,
    OMEGA_ENGINE_MAX_BATCH_TOKENS_MIN, OMEGA_ENGINE_MAX_BATCH_TOKENS_MAX, OMEGA_CFG_HOT,
    "Token budget of one batch (sum of sequence lengths)")
OMEGA_SETTING_INT(EMBED_BATCH_WINDOW_MS, embed_batch_window_ms, OMEGA_ENGINE_BATCH_WINDOW_MS_DEFAULT,
    OMEGA_ENGINE_BATCH_WINDOW_MS_MIN, OMEGA_ENGINE_BATCH_WINDOW_MS_MAX, OMEGA_CFG_HOT,
    "How long the batcher may wait for more requests before running a batch below the ceiling")
OMEGA_SETTING_BOOL(EMBED_ADAPTIVE_BATCHING, embed_adaptive_batching, true, OMEGA_CFG_HOT,
    "Steer the batch ceiling by measured p95 latency against ACCEL_TARGET_LAT_MS (false: fixed at EMBED_MAX_BATCH)")
OMEGA_SETTING_INT(ACCEL_TARGET_LAT_MS, accel_target_lat_ms, OMEGA_ENGINE_TARGET_LATENCY_MS_DEFAULT,
    OMEGA_ENGINE_TARGET_LATENCY_MS_MIN, OMEGA_ENGINE_TARGET_LATENCY_MS_MAX, OMEGA_CFG_HOT,
    "Target p95 latency of an embedding request, queueing included")
OMEGA_SETTING_BOOL(ACCEL_OOM_CPU_FALLBACK, accel_oom_cpu_fallback, true, OMEGA_CFG_HOT,
    "Retry a batch on the CPU when the GPU runs out of memory (false: answer 503)")
OMEGA_SETTING_INT(EMBED_CUDA_GRAPH_TOKENS, embed_cuda_graph_tokens, OMEGA_ENGINE_CUDA_GRAPH_TOKENS_DEFAULT,
    OMEGA_ENGINE_CUDA_GRAPH_TOKENS_MIN, OMEGA_ENGINE_CUDA_GRAPH_TOKENS_MAX, OMEGA_CFG_HOT,
    "GPU batches of at most this many tokens replay a CUDA graph of the forward pass, captured per batch shape on "
    "its second sighting (cuts launch overhead of small batches; 0: off)")
OMEGA_SETTING_ENUM(EMBED_GPU_DTYPE, embed_gpu_dtype, omega_gpu_dtype_t, "auto", omega_gpu_dtype_names, 0,
    "GPU precision: auto (bf16 on compute capability 8.0+, else fp16), bf16, fp16, fp32, or tf32 (fp32 storage, "
    "TF32 tensor-core GEMMs)")
OMEGA_SETTING_INT(EMBED_GPU_MAX_SLOTS, embed_gpu_max_slots, OMEGA_ENGINE_MAX_SLOTS_DEFAULT,
    OMEGA_ENGINE_MAX_SLOTS_MIN, OMEGA_ENGINE_MAX_SLOTS_MAX, 0,
    "CUDA streams created at start-up: the most EMBED_GPU_SLOTS can be raised to without a restart")
OMEGA_SETTING_INT(OMEGA_GPU_DEVICE, omega_gpu_device, 0, 0, 63, 0,
    "CUDA device index to use")
OMEGA_SETTING_STRING(OMEGA_CUDA_PLUGIN, omega_cuda_plugin, 1024, "", 0,
    "Path of libomega-cuda.so (empty: next to the omega binary, then ../lib, then the library path)")
OMEGA_SETTING_INT(EMBED_QUEUE_CAPACITY, embed_queue_capacity, 4096, OMEGA_ENGINE_QUEUE_CAPACITY_MIN,
    OMEGA_ENGINE_QUEUE_CAPACITY_MAX, OMEGA_CFG_HOT,
    "Sequences waiting at most; past it requests get 429 with Retry-After")
OMEGA_SETTING_INT(EMBED_THREADS, embed_threads, 0, 0, 1024, 0,
    "CPU threads for inference (0: every online CPU)")
OMEGA_SETTING_ENUM(EMBED_CPU_PRECISION, embed_cpu_precision, omega_cpu_precision_t, "auto",
    omega_cpu_precision_names, 0,
    "CPU precision of the model's linear layers: auto (each mode this CPU has is timed on the model at start-up, "
    "and the fastest within EMBED_CPU_AUTO_MIN_COSINE of fp32 runs; /info shows the timings), fp32 (exact), bf16 "
    "(AMX or AVX512-BF16), bf16x3 (fp32 split into two bf16 parts, three AMX products: fp32-class accuracy, "
    "PyTorch's float32 matmul precision \"high\"), int8 (dynamic quantisation; AMX, VNNI or AVX2); weights are "
    "packed at start-up, and a mode the CPU cannot run stops the start with the reason")
OMEGA_SETTING_REAL(EMBED_CPU_AUTO_MIN_COSINE, embed_cpu_auto_min_cosine, OMEGA_ENGINE_CPU_AUTO_MIN_COSINE_DEFAULT,
    0, 1, 0,
    "The accuracy bound of EMBED_CPU_PRECISION=auto: a mode runs only if each of its embeddings of the probe texts "
    "has at least this cosine with fp32's (1: fp32 only)")
OMEGA_SETTING_STRING(EMBED_CPU_AUTO_CACHE_DIR, embed_cpu_auto_cache_dir, 1024, "", 0,
    "Where EMBED_CPU_PRECISION=auto keeps its choice per CPU, threads, model folder and bound, so a restart does not "
    "measure again (empty: $XDG_CACHE_HOME/omega, else $HOME/.cache/omega; off: measure at every start)")
OMEGA_SETTING_STRING(EMBED_POOLING, embed_pooling, 96, "", 0,
    "Pooling instead of the model folder's 1_Pooling: cls, mean, max, mean_sqrt_len, weightedmean or lasttoken, "
    "or several joined by + (concatenated in sentence-transformers' order); empty: the folder's")
OMEGA_SETTING_ENUM(OMEGA_CPU_ISA, omega_cpu_isa, omega_isa_cap_t, "auto", omega_isa_cap_names, 0,
    "Instruction sets the embedding kernels may use: auto (the best the CPU has), amx (the same today), avx512 "
    "(AVX-512 without the AMX tiles), avx2 (with FMA), neon (ARM; the only set an AArch64 CPU has besides "
    "portable) or portable (plain C); a CPU without the set named runs the best it has below it. For tests, and to "
    "run as a smaller CPU would")
OMEGA_SETTING_ENUM(OMEGA_SIMD, omega_simd, omega_isa_cap_t, "auto", omega_isa_cap_names, 0,
    "Instruction sets the vector search kernels may use, with the values of OMEGA_CPU_ISA (amx: the AVX-512 kernels "
    "and the flat index's batch GEMM on AMX tiles; avx512: on AVX512-BF16 where the CPU has it)")
OMEGA_SETTING_INT(OMEGA_REQUEST_TIMEOUT_MS, omega_request_timeout_ms, 30000, 1, 3600000, OMEGA_CFG_HOT,
    "Default request deadline (a request's X-Omega-Timeout-Ms or timeout_ms overrides it); past it: 504")
/* server */
OMEGA_SETTING_STRING(OMEGA_MODEL, omega_model, 1024, "", 0,
    "Model folder to serve (omega serve --model)")
OMEGA_SETTING_STRING(OMEGA_MODEL_NAME, omega_model_name, 256, "", 0,
    "Model name reported by /info and /v1/embeddings (default: the folder's name)")
OMEGA_SETTING_STRING(OMEGA_HOST, omega_host, 256, "127.0.0.1", 0,
    "Address to listen on (0.0.0.0 for every interface)")
OMEGA_SETTING_INT(OMEGA_PORT, omega_port, 8080, 0, 65535, 0,
    "TCP port (0: pick a free one)")
OMEGA_SETTING_STRING(OMEGA_UNIX_SOCKET, omega_unix_socket, 108, "", 0,
    "Also listen on this Unix socket path")
OMEGA_SETTING_INT(OMEGA_IO_THREADS, omega_io_threads, 4, 1, 256, 0,
    "HTTP I/O threads (they never block on work)")
OMEGA_SETTING_INT(OMEGA_WORKERS, omega_workers, 8, 1, 1024, 0,
    "Worker pool for blocking work: HMAC, tokenisation, JSON encoding")
OMEGA_SETTING_INT(OMEGA_WORKER_QUEUE, omega_worker_queue, 1024, 1, 1 << 20, 0,
    "Tasks waiting for the worker pool at most; past it: 429")
OMEGA_SETTING_INT(OMEGA_MAX_BODY_BYTES, omega_max_body_bytes, 2097152, 1024, 1 << 30, OMEGA_CFG_HOT,
    "Largest request body; past it: 413")
OMEGA_SETTING_INT(OMEGA_MAX_CONNECTIONS, omega_max_connections, 4096, 16, 1 << 20, 0,
    "Open client connections at most; past it a new connection gets 503 and is closed at once")
OMEGA_SETTING_INT(OMEGA_MAX_CONNECTIONS_PER_IP, omega_max_connections_per_ip, 256, 0, 1 << 20, OMEGA_CFG_HOT,
    "Open connections from one client address at most, past it 503 and closed (0: no limit; behind a load balancer "
    "every client has its address: raise it to the balancer's pool size)")
OMEGA_SETTING_INT(OMEGA_HTTP_HEAD_TIMEOUT_MS, omega_http_head_timeout_ms, 10000, 100, 600000, OMEGA_CFG_HOT,
    "A new connection's first request head must arrive whole within this time; past it: 408 and closed")
OMEGA_SETTING_INT(OMEGA_HTTP_BODY_TIMEOUT_S, omega_http_body_timeout_s, 30, 1, 3600, OMEGA_CFG_HOT,
    "Longest silence while a request is being received; past it the connection is closed")
OMEGA_SETTING_INT(OMEGA_HTTP_IDLE_TIMEOUT_S, omega_http_idle_timeout_s, 60, 1, 3600, OMEGA_CFG_HOT,
    "How long a keep-alive connection may wait for its next request")
OMEGA_SETTING_INT(OMEGA_HTTP_MAX_HEAD_BYTES, omega_http_max_head_bytes, 16384, 1024, 49152, 0,
    "Largest request head (request line and headers); past it: 431")
OMEGA_SETTING_INT(OMEGA_HTTP_MAX_TARGET_BYTES, omega_http_max_target_bytes, 8192, 256, 49152, 0,
    "Longest request target (path and query); past it: 414")
OMEGA_SETTING_INT(OMEGA_MAX_HELD_RESPONSE_BYTES, omega_max_held_response_bytes, 268435456, 1048576, 1LL << 40,
    OMEGA_CFG_HOT,
    "Bytes of answers waiting for clients that have not read them yet, at most; past it new requests get 503")
OMEGA_SETTING_INT(OMEGA_MAX_INPUTS, omega_max_inputs, 512, 1, 1 << 20, OMEGA_CFG_HOT,
    "Most inputs in one request; past it: 422")
OMEGA_SETTING_INT(OMEGA_TOKENIZE_MAX_TOKENS, omega_tokenize_max_tokens, 262144, 1, 1 << 26, OMEGA_CFG_HOT,
    "Most tokens one /tokenize request may return (about 40 bytes of JSON each; the default fits 512 inputs of 512 "
    "tokens); past it: 422")
OMEGA_SETTING_INT(OMEGA_RETRY_AFTER_S, omega_retry_after_s, 1, 1, 3600, OMEGA_CFG_HOT,
    "Retry-After seconds sent with 429")
OMEGA_SETTING_INT(OMEGA_DRAIN_GRACE_MS, omega_drain_grace_ms, 30000, 0, 3600000, OMEGA_CFG_HOT,
    "On SIGTERM, how long in-flight requests may take to finish")
OMEGA_SETTING_STRING(OMEGA_HMAC_SECRET_FILE, omega_hmac_secret_file, 1024, "", OMEGA_CFG_HOT,
    "File holding the HMAC secret of /invoke and /accel/config (re-read on reload)")
OMEGA_SETTING_STRING(OMEGA_HMAC_SECRET, omega_hmac_secret, 1024, "", OMEGA_CFG_HOT | OMEGA_CFG_SECRET,
    "The HMAC secret itself (prefer the file); no secret: gated routes answer 503")
OMEGA_SETTING_INT(OMEGA_HMAC_WINDOW_S, omega_hmac_window_s, 300, 1, 86400, OMEGA_CFG_HOT,
    "Accepted clock skew of X-Omega-Timestamp, seconds either way")
OMEGA_SETTING_INT(OMEGA_HMAC_MAX_RATE, omega_hmac_max_rate, 1000, 1, 1 << 20, OMEGA_CFG_HOT,
    "Signed requests per second the replay cache sustains: it remembers OMEGA_HMAC_MAX_RATE x (2 x "
    "OMEGA_HMAC_WINDOW_S + 1) nonces (about 90 bytes each when full); past that signed requests get 503")
OMEGA_SETTING_INT(OMEGA_NONCE_CACHE, omega_nonce_cache, 0, 0, 1 << 24, OMEGA_CFG_HOT,
    "Nonces remembered for replay protection (0: sized from OMEGA_HMAC_MAX_RATE and OMEGA_HMAC_WINDOW_S)")
OMEGA_SETTING_STRING(OMEGA_API_KEYS_FILE, omega_api_keys_file, 1024, "", OMEGA_CFG_HOT,
    "File of API keys for the data plane, one `NAME read|write KEY` (or sha256:HEX) per line, sent as "
    "Authorization: Bearer (re-read on reload); empty: the data plane is open to anyone who reaches the port")
OMEGA_SETTING_STRING(OMEGA_API_KEYS_PUBLIC, omega_api_keys_public, 256, "health,ready,metrics", OMEGA_CFG_HOT,
    "Endpoints answered without a key when keys are set, comma-separated (of health, ready, metrics, info, "
    "accel_health; empty: none)")
OMEGA_SETTING_INT(OMEGA_AUTH_MAX_FAILURES, omega_auth_max_failures, 20, 1, 1000000, OMEGA_CFG_HOT,
    "Failed authentications (API keys and HMAC) one client address may make per minute; past them it gets 429 "
    "until its allowance refills")
OMEGA_SETTING_STRING(OMEGA_TRUSTED_PROXIES, omega_trusted_proxies, 1024, "", OMEGA_CFG_HOT,
    "Load balancers and proxies whose X-Forwarded-For names the client, comma-separated addresses or CIDR "
    "blocks (up to 64): the failure limit then counts the client's address, not the balancer's; empty: the "
    "peer is the client")
OMEGA_SETTING_STRING(OMEGA_TLS_CERT_FILE, omega_tls_cert_file, 1024, "", 0,
    "PEM certificate chain for HTTPS (with OMEGA_TLS_KEY_FILE; both files re-read on SIGHUP and config reloads); "
    "empty: plain HTTP")
OMEGA_SETTING_STRING(OMEGA_TLS_KEY_FILE, omega_tls_key_file, 1024, "", 0,
    "PEM private key of OMEGA_TLS_CERT_FILE")
OMEGA_SETTING_STRING(OMEGA_CONFIG_FILE, omega_config_file, 1024, "", 0,
    "KEY=VALUE file of settings, watched for changes (also --config)")
OMEGA_SETTING_ENUM(OMEGA_PROFILE, omega_profile, omega_profile_t, "NONE", omega__profile_names, OMEGA_CFG_HOT,
    "Tuning preset applied over the defaults; any setting still overrides it")
OMEGA_SETTING_ENUM(OMEGA_LOG_LEVEL, omega_log_level, omega_cfg_log_level_t, "info", omega__cfg_log_level_names,
    OMEGA_CFG_HOT,
    "Log verbosity on stderr")
OMEGA_SETTING_STRING(OMEGA_FAULT_INJECT, omega_fault_inject, 256, "", OMEGA_CFG_HOT,
    "Test-only fault injection, e.g. batch_delay_ms:200,load_delay_ms:1000,cuda_oom:0.1,cuda_sticky:once,gpu_sim:1 "
    "(gpu_sim: a simulated GPU when none is usable; empty: none)")
/* vector search */
OMEGA_SETTING_STRING(OMEGA_DATA_DIR, omega_data_dir, 1024, "", 0,
    "Folder of the vector collections (DIR/collections/NAME), reopened at start-up (empty: in memory only)")
OMEGA_SETTING_ENUM(OMEGA_INDEX_FSYNC, omega_index_fsync, omega_cfg_fsync_t, "always", omega__cfg_fsync_names, 0,
    "Collection log durability: always (fsync before every acknowledgement) or interval (fsync in the background)")
OMEGA_SETTING_INT(OMEGA_INDEX_FSYNC_INTERVAL_MS, omega_index_fsync_interval_ms, 1000, 1, 600000, 0,
    "With OMEGA_INDEX_FSYNC=interval: how often the log is fsynced")
OMEGA_SETTING_INT(OMEGA_INDEX_MEMORY_LIMIT_MB, omega_index_memory_limit_mb, 0, 0, 1 << 30, 0,
    "Memory each collection may use (vectors, graph, ids); an upsert past it gets 507 (0: no limit)")
OMEGA_SETTING_STRING(OMEGA_INDEX_ACCEPT_LOSS, omega_index_accept_loss, 1024, "", 0,
    "Collections (comma-separated names, or *) that may start although their log shows acknowledged writes lost "
    "(missing, cut short, damaged, or not the log that follows the snapshot): each opens with what survives, logs a "
    "warning saying how many records were lost, and is rewritten consistent. Without it such a collection stops the "
    "start-up. Set it for one restart (omega serve --set OMEGA_INDEX_ACCEPT_LOSS=NAME), never as a default")
OMEGA_SETTING_INT(OMEGA_SEARCH_MAX_K, omega_search_max_k, 1000, 1, 10000, OMEGA_CFG_HOT,
    "Largest k of a search; past it: 422")
OMEGA_SETTING_INT(OMEGA_SEARCH_MAX_BATCH, omega_search_max_batch, 64, 1, 4096, OMEGA_CFG_HOT,
    "Most queries in one search request; past it: 422")
