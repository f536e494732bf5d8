module.exports = require('../dist/src/nodes/rps-map').default;
