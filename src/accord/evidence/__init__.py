"""Evidence bundles: what a party can prove about a notice, offline, with nothing else."""
