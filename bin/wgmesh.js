#!/usr/bin/env node
'use strict';
require('./register');
require('../apps/cli/src/main.ts');
