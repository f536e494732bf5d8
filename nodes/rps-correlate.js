module.exports = require('../dist/src/nodes/rps-correlate').default;
