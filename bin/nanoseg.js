#!/usr/bin/env -S node --initial-old-space-size=128
// The flag: V8 sizes its old-generation GC limit from the live heap, and the control plane's heap is small (tens of
// MB) while the network stack churns through short-lived buffers; with the default limit a full GC ran twice a
// second under 50k access-log entries/s, each stalling the event loop 10-20 ms. 128 MB is where V8 starts, not a cap.
// `node bin/nanoseg.js` skips this line: run the file itself (or npx nanoseg) for the control plane.
import '../dist/xds-server/src/cli/main.js';
