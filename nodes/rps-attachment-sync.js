module.exports = require('../dist/src/nodes/rps-attachment-sync').default;
