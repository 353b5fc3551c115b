"""EventualShop: the domain package shared by every function."""
