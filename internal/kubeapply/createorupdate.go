package kubeapply

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
)

// ObjectClient is what CreateOrUpdate needs of a typed client (clientset.CoreV1().Services(ns)
// and the like) or of an UnstructuredClient.
type ObjectClient[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// CreateOrUpdate makes obj what the cluster holds: created, or written over the current
// object at its resource version (retried if someone else wrote in between). Unlike Apply it
// needs no discovery, so it works with client-go's fake clientsets too. It reads before it
// creates: a create of a Service that exists fails on its node port ("provided port is
// already allocated") before it fails as existing.
func CreateOrUpdate[T metav1.Object](ctx context.Context, c ObjectClient[T], obj T, fieldManager string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = c.Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		obj.SetResourceVersion(cur.GetResourceVersion())
		_, err = c.Update(ctx, obj, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

// UnstructuredClient fits a dynamic resource client to ObjectClient.
type UnstructuredClient struct{ dynamic.ResourceInterface }

func (c UnstructuredClient) Get(ctx context.Context, name string, opts metav1.GetOptions) (*unstructured.Unstructured, error) {
	return c.ResourceInterface.Get(ctx, name, opts)
}

func (c UnstructuredClient) Create(ctx context.Context, obj *unstructured.Unstructured, opts metav1.CreateOptions) (*unstructured.Unstructured, error) {
	return c.ResourceInterface.Create(ctx, obj, opts)
}

func (c UnstructuredClient) Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions) (*unstructured.Unstructured, error) {
	return c.ResourceInterface.Update(ctx, obj, opts)
}
