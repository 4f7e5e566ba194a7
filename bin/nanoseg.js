#!/usr/bin/env node
import '../dist/xds-server/src/cli/main.js';
